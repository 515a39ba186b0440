/**
 * Unknown option keys are almost always typos (`callTimeoutMS`, `retry.maxAttemps`);
 * accepted silently, they leave a default in force that the user thinks they changed.
 * Every options object the library accepts is checked here, before any I/O.
 */
import { InvalidOptionError } from '../errors';
import { optionKeys } from '../validate';

/**
 * Throws `InvalidOptionError(`${path}${key}`, 'unknown option; did you mean "x"?')`
 * for the first own enumerable string key of `value` that is not in `allowed`. The
 * suggestion is the closest allowed key by edit distance (case-insensitive), given
 * when it is close enough to be a plausible typo.
 *
 * @param value the options object (its getters are never invoked)
 * @param allowed every key the object may have
 * @param path prefix of the reported option name, e.g. `''` or `'retry.'`
 *
 * @example rejectUnknownKeys(options.retry, ['maxAttempts', 'backoff'], 'retry.');
 */
export function rejectUnknownKeys(value: object, allowed: readonly string[], path: string): void {
  for (const key of optionKeys(value, path)) {
    if (allowed.includes(key)) {
      continue;
    }
    const suggestion = closest(key, allowed);
    throw new InvalidOptionError(
      `${path}${key}`,
      suggestion === undefined ? 'unknown option' : `unknown option; did you mean "${suggestion}"?`,
    );
  }
}

/** The allowed key nearest to `key`, if within a third of its length (at least 2 edits). */
function closest(key: string, allowed: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const candidate of allowed) {
    const d = levenshtein(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Edit distance (insert, delete, substitute), two rows. Keys are short. */
function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
