/**
 * The one error describer: a short, secret-free, single-line description of any
 * thrown value, for logs, `health()` and event payloads. Never throws (not even for
 * an object whose getters or `toString` throw).
 */
import { redact } from '../logger';

/** Longest description returned, in characters. */
const MAX_LENGTH = 500;

export function describeError(err: unknown): string {
  let text: string;
  try {
    if (err instanceof Error) {
      text = `${String(err.name)}: ${String(err.message)}`;
    } else if (typeof err === 'string') {
      text = err;
    } else {
      text = String(err);
    }
  } catch {
    text = Object.prototype.toString.call(err);
  }
  // Control characters from remote data must not forge log lines.
  // eslint-disable-next-line no-control-regex
  return redact(text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ')).slice(
    0,
    MAX_LENGTH,
  );
}
