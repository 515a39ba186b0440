/**
 * Reading a call's options (`builder.options({...})`, the last argument of an exec)
 * once, safely, before anything is sent: a getter or Proxy trap that throws, or a
 * `signal` that is not an `AbortSignal`, becomes an `InvalidOptionError` naming the
 * field, never the caller's own error escaping from deep inside a call.
 */
import type { CallOptions } from '@grpc/grpc-js';
import { InvalidOptionError } from '../errors';

/**
 * A plain copy of `value`: every own enumerable key (strings and symbols, so marks
 * such as {@link retryWrites}'s survive) read exactly once. `undefined` and `null`
 * give `undefined` (no options).
 *
 * @param name the field reported in errors, e.g. `'callOptions'`
 * @throws InvalidOptionError when `value` is not an object, its keys or a value cannot
 *   be read (a throwing getter or trap: `callOptions.deadline`), or `signal` is set and
 *   is not an `AbortSignal` (`callOptions.signal`).
 */
export function readCallOptions(value: unknown, name: string): CallOptions | undefined {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError(name, 'must be an object');
  }
  let keys: (string | symbol)[];
  try {
    keys = Reflect.ownKeys(value).filter(k => Object.prototype.propertyIsEnumerable.call(value, k));
  } catch {
    throw new InvalidOptionError(name, 'cannot be read (its keys could not be listed)');
  }
  const copy: Record<string | symbol, unknown> = {};
  for (const key of keys) {
    try {
      copy[key] = (value as Record<string | symbol, unknown>)[key];
    } catch {
      throw new InvalidOptionError(`${name}.${String(key)}`, 'cannot be read (its getter threw)');
    }
  }
  if (copy.signal !== undefined && !isAbortSignal(copy.signal)) {
    throw new InvalidOptionError(`${name}.signal`, 'must be an AbortSignal');
  }
  return copy as CallOptions;
}

/** True for an `AbortSignal` (or a look-alike whose members can be read); never throws. */
function isAbortSignal(value: unknown): boolean {
  try {
    return (
      typeof value === 'object' &&
      value !== null &&
      typeof (value as AbortSignal).aborted === 'boolean' &&
      typeof (value as AbortSignal).addEventListener === 'function' &&
      typeof (value as AbortSignal).removeEventListener === 'function'
    );
  } catch {
    return false;
  }
}
