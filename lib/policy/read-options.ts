/**
 * Reading an options object the caller handed us, before anything else: it must be an
 * object, its getters and Proxy traps may throw, and its keys may be typos. Each of
 * these becomes an `InvalidOptionError` naming the field, never the caller's own error
 * escaping later from deep inside the library.
 */
import { InvalidOptionError } from '../errors';
import { readOptionObject } from '../validate';
import { rejectUnknownKeys } from './unknown-keys';

/**
 * A plain copy of `value` (each own enumerable key read exactly once), or `{}` when
 * `value` is undefined. Throws `InvalidOptionError` when `value` is not an object, a
 * getter or trap throws, or a key is not in `allowed` (with a "did you mean").
 *
 * @param name the option's name when it is not an object, e.g. `'options'` or `'lease'`
 * @param path prefix of reported field names, e.g. `''` or `'lease.'`
 * @example const o = readKnownOptions(options, ['prefix', 'logger'], 'options', '');
 */
export function readKnownOptions(
  value: unknown,
  allowed: readonly string[],
  name: string,
  path: string,
): Record<string, unknown> {
  if (value === undefined) {
    return {};
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(name, 'must be an object');
  }
  const copy = readOptionObject(value, path);
  rejectUnknownKeys(copy, allowed, path);
  return copy;
}

/**
 * Reads `value[key]` once; a getter or Proxy trap that throws becomes an
 * `InvalidOptionError` naming `name`. For objects that are not options bags (a client,
 * a class) whose members are checked one by one.
 */
export function readMember(value: unknown, key: string, name: string): unknown {
  if (value === null || value === undefined) {
    return undefined;
  }
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    throw new InvalidOptionError(name, `cannot be read (its "${key}" getter threw)`);
  }
}
