/**
 * Deadlines as the library accepts them: a `Date` or a `Date.now()`-style number of
 * ms, finite. grpc-js throws an uncaught error from deep inside a call for anything
 * else (`'soon'`, `NaN`, an invalid `Date`), so every entry point checks here first.
 */
import { InvalidOptionError } from '../errors';
import { describeValue } from '../validate';

/**
 * The deadline as epoch ms, or `undefined` when none is set (`undefined`, `null`,
 * `Infinity`: grpc-js's "no deadline"). Throws `InvalidOptionError` naming `field`
 * for anything else that is not a finite number or a valid `Date`.
 */
export function deadlineMs(value: unknown, field = 'deadline'): number | undefined {
  if (value === undefined || value === null || value === Infinity) {
    return undefined;
  }
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isFinite(ms)) {
      return ms;
    }
  } else if (typeof value === 'number' && Number.isFinite(value)) {
    return value;
  }
  throw new InvalidOptionError(
    field,
    `must be a Date or a finite number of ms since the epoch, got ${describeValue(value)}`,
  );
}
