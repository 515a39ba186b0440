/**
 * Validation helpers shared by every options module: each bad value becomes an
 * {@link InvalidOptionError} naming the option, and values are described without
 * calling their `toString()` (which throws for null-prototype objects, and could print
 * something secret).
 */
import { InvalidOptionError } from './errors';

/**
 * Describes any value for an error message, never throwing: numbers and booleans as
 * such, strings quoted and truncated, anything else by kind.
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return String(value);
    case 'string':
      return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      return value === null ? 'null' : Array.isArray(value) ? 'an array' : 'an object';
  }
}

/** Bounds of a numeric option. */
export interface NumberBounds {
  min: number;
  /** Defaults to 2^31 - 1 (the largest timer delay Node accepts). */
  max?: number;
  /** Whole numbers only. Defaults to false. */
  integer?: boolean;
}

/** `value` if it is a finite number within bounds, `def` if undefined; else throws. */
export function numberOption(
  name: string,
  value: unknown,
  def: number,
  bounds: NumberBounds,
): number {
  if (value === undefined) {
    return def;
  }
  const { min, max = 2 ** 31 - 1, integer = false } = bounds;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    (integer && !Number.isInteger(value)) ||
    value < min ||
    value > max
  ) {
    throw new InvalidOptionError(
      name,
      `must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${describeValue(value)}`,
    );
  }
  return value;
}

/** `value` if it is a boolean, `def` if undefined; else throws. */
export function booleanOption(name: string, value: unknown, def: boolean): boolean {
  if (value === undefined) {
    return def;
  }
  if (typeof value !== 'boolean') {
    throw new InvalidOptionError(name, `must be a boolean, got ${describeValue(value)}`);
  }
  return value;
}

/**
 * `value`'s own enumerable string keys. A Proxy whose `ownKeys` trap throws becomes an
 * {@link InvalidOptionError} naming the object (`path` without its trailing dot, or
 * `'options'`).
 *
 * @param path prefix of reported names, e.g. `''` or `'retry.'`
 */
export function optionKeys(value: object, path: string): string[] {
  try {
    return Object.keys(value);
  } catch {
    throw new InvalidOptionError(path.replace(/\.$/, '') || 'options', 'keys cannot be read');
  }
}

/**
 * A plain copy of `value`'s own enumerable string-keyed properties, each read exactly
 * once. A getter or Proxy trap that throws becomes an {@link InvalidOptionError} naming
 * the field (`${path}${key}`), instead of escaping as the caller's own error later.
 *
 * @param path prefix of reported names, e.g. `''` or `'retry.'`
 */
export function readOptionObject(value: object, path: string): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const key of optionKeys(value, path)) {
    try {
      copy[key] = (value as Record<string, unknown>)[key];
    } catch {
      throw new InvalidOptionError(`${path}${key}`, 'cannot be read (its getter threw)');
    }
  }
  return copy;
}
