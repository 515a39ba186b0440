/**
 * Checks that a value survives `JSON.stringify` faithfully, so bad metadata is
 * rejected before anything is written rather than thrown mid-write or silently
 * mangled (functions dropped, `NaN` turned into `null`, a `Map` into `{}`).
 */
import { InvalidOptionError } from '../errors';
import { describeError } from '../policy/describe-error';

/** Deepest nesting accepted. */
const MAX_DEPTH = 100;

/**
 * Throws {@link InvalidOptionError} naming the offending path (e.g.
 * `metadata.tags[2]`) if `value` contains a cycle, a `bigint`, a function, a
 * symbol, a non-finite number, a `Map`/`Set`/`WeakMap`/`WeakSet`, or nests deeper
 * than 100 levels. `undefined` object properties are allowed (JSON drops them); a
 * `toJSON()` result is checked instead of the object (so `Date` is fine).
 */
export function assertJsonSerializable(value: unknown, option: string): void {
  try {
    check(value, option, new Set(), 0, option);
  } catch (err) {
    if (err instanceof InvalidOptionError) {
      throw err;
    }
    // A getter or Proxy trap that threw while the value was walked.
    throw new InvalidOptionError(
      option,
      `cannot be serialised to JSON: reading it threw ${describeError(err)}`,
    );
  }
}

function check(
  value: unknown,
  path: string,
  ancestors: Set<object>,
  depth: number,
  option: string,
): void {
  const fail = (why: string): never => {
    throw new InvalidOptionError(option, `cannot be serialised to JSON: ${path} ${why}`);
  };
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return;
    case 'number':
      if (!Number.isFinite(value)) {
        fail(`is ${value} (JSON would write null)`);
      }
      return;
    case 'bigint':
      return fail('is a BigInt');
    case 'function':
      return fail('is a function');
    case 'symbol':
      return fail('is a symbol');
  }
  if (value === null) {
    return;
  }
  const obj = value as object;
  if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') {
    let json: unknown;
    try {
      json = (obj as { toJSON(): unknown }).toJSON();
    } catch (err) {
      return fail(`toJSON() threw ${describeError(err)}`);
    }
    if (json !== obj) {
      // Counted as a level: a toJSON() returning a fresh object with its own toJSON()
      // would otherwise recurse until the stack overflows.
      if (depth >= MAX_DEPTH) {
        return fail(`nests deeper than ${MAX_DEPTH} levels (toJSON() chain)`);
      }
      return check(json, `${path}.toJSON()`, ancestors, depth + 1, option);
    }
  }
  if (
    obj instanceof Map ||
    obj instanceof Set ||
    obj instanceof WeakMap ||
    obj instanceof WeakSet
  ) {
    return fail('is a Map, Set, WeakMap or WeakSet (JSON would write {})');
  }
  if (depth >= MAX_DEPTH) {
    return fail(`nests deeper than ${MAX_DEPTH} levels`);
  }
  if (ancestors.has(obj)) {
    return fail('refers back to itself (cycle)');
  }
  ancestors.add(obj);
  if (Array.isArray(obj)) {
    obj.forEach((item, i) => {
      const itemPath = `${path}[${i}]`;
      if (item === undefined) {
        throw new InvalidOptionError(
          option,
          `cannot be serialised to JSON: ${itemPath} is undefined (JSON would write null)`,
        );
      }
      check(item, itemPath, ancestors, depth + 1, option);
    });
  } else {
    for (const [k, v] of Object.entries(obj)) {
      check(v, `${path}.${k}`, ancestors, depth + 1, option);
    }
  }
  ancestors.delete(obj);
}
