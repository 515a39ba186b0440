/**
 * Recent round trips of one endpoint, as a decaying histogram: the hedge delay of a
 * read and the patience of a status probe are read from it, so they follow the link
 * as it is now (a link that turns slow stretches them within a window), not the
 * fastest handshake ever seen.
 *
 * Samples go into log-scale buckets (each 20 % wider than the one before, 0.5 ms to
 * about 4 min), so `record()` is O(1) and a quantile is one pass over a fixed, small
 * array. Two windows rotate: a quantile reads the current window plus the one before
 * it, so it always covers between one and two `windowMs` of history and forgets a
 * burst of slow (or fast) samples within two windows.
 *
 * A quantile is an upper bound: the upper edge of the bucket it falls in (at most
 * 20 % above the true value), which errs towards waiting a little longer.
 */

/** Options of {@link LatencyTracker}. */
export interface LatencyOptions {
  /** Length of one window. Quantiles cover the last 1-2 windows. Defaults to 10000 (10 s). */
  windowMs?: number;
  /** Fewer samples than this in the last 1-2 windows: no quantile (`undefined`). Defaults to 5. */
  minSamples?: number;
  /** Clock, for tests. Defaults to `Date.now`. */
  now?: () => number;
}

/** Ratio between the upper edges of two neighbouring buckets. */
const GROWTH = 1.2;
/** Upper edge of bucket 0, in ms. */
const FIRST_EDGE_MS = 0.5;
/** 0.5 ms * 1.2^80 ≈ 1.1e6 ms: everything longer lands in the last bucket. */
const BUCKETS = 81;
const LOG_GROWTH = Math.log(GROWTH);

/** Upper edge (inclusive) of bucket `i`, in ms. */
const edgeOf = (i: number): number => FIRST_EDGE_MS * GROWTH ** i;

/** Bucket of a sample of `ms` milliseconds. */
function bucketOf(ms: number): number {
  if (!(ms > FIRST_EDGE_MS)) {
    return 0; // also NaN and negatives: treated as instantaneous
  }
  // The small epsilon keeps a value exactly on an edge in the lower bucket despite rounding.
  const i = Math.ceil(Math.log(ms / FIRST_EDGE_MS) / LOG_GROWTH - 1e-9);
  return Math.min(i, BUCKETS - 1);
}

/** Recent latency of one endpoint; see the module comment. */
export class LatencyTracker {
  private readonly windowMs: number;
  private readonly minSamples: number;
  private readonly now: () => number;
  /** Counts of the window that began at `windowStart`. */
  private current = new Uint32Array(BUCKETS);
  /** Counts of the window before it (all zero if that window saw nothing or is too old). */
  private previous = new Uint32Array(BUCKETS);
  private currentCount = 0;
  private previousCount = 0;
  private windowStart: number;
  private last: number | undefined;

  constructor(options: LatencyOptions = {}) {
    this.windowMs = options.windowMs ?? 10_000;
    this.minSamples = options.minSamples ?? 5;
    this.now = options.now ?? Date.now;
    this.windowStart = this.now();
  }

  /** Records one round trip of `ms` milliseconds (a call's duration, a probe's RTT). */
  record(ms: number): void {
    this.rotate();
    this.current[bucketOf(ms)]++;
    this.currentCount++;
    this.last = ms;
  }

  /**
   * Records that something has taken at least `ms` and was not waited for any longer (an
   * attempt cancelled because another one answered first). Counted as a sample of `ms`:
   * the link is at least that slow, so a link that turned slow raises the quantiles even
   * while hedges keep answering from elsewhere.
   */
  recordAtLeast(ms: number): void {
    this.record(ms);
  }

  /** Samples in the last one to two windows. */
  get count(): number {
    this.rotate();
    return this.currentCount + this.previousCount;
  }

  /** The most recent sample, in ms, if any was ever recorded. */
  get lastMs(): number | undefined {
    return this.last;
  }

  /**
   * The `q`-quantile (0 < q <= 1) of the recent samples, in ms, rounded up to its
   * bucket's upper edge; `undefined` with fewer than `minSamples` recent samples.
   */
  quantile(q: number): number | undefined {
    this.rotate();
    const total = this.currentCount + this.previousCount;
    if (total === 0 || total < this.minSamples) {
      return undefined;
    }
    const rank = Math.max(1, Math.ceil(Math.min(1, Math.max(0, q)) * total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.current[i]! + this.previous[i]!;
      if (seen >= rank) {
        return edgeOf(i);
      }
    }
    return edgeOf(BUCKETS - 1);
  }

  /** Drops every sample (e.g. after the endpoint was rebuilt onto a new path). */
  reset(): void {
    this.current.fill(0);
    this.previous.fill(0);
    this.currentCount = this.previousCount = 0;
    this.windowStart = this.now();
  }

  /** Starts a new window if the current one is over; O(buckets) once per window. */
  private rotate(): void {
    const now = this.now();
    const elapsed = now - this.windowStart;
    if (elapsed < this.windowMs) {
      return;
    }
    if (elapsed < 2 * this.windowMs) {
      // The window that just ended becomes the previous one.
      const old = this.previous;
      this.previous = this.current;
      this.previousCount = this.currentCount;
      this.current = old;
      this.current.fill(0);
      this.windowStart += this.windowMs;
    } else {
      // Nothing recorded for two windows or more: all of it is stale.
      this.previous.fill(0);
      this.current.fill(0);
      this.previousCount = 0;
      this.windowStart = now;
    }
    this.currentCount = 0;
  }
}

/** How a delay is read from a {@link LatencyTracker}. */
export interface DelayPolicy {
  /** Quantile of recent round trips, 0 < q <= 1. */
  readonly quantile: number;
  /** Never less than this, in ms. */
  readonly floorMs: number;
  /** Used while the tracker has too few samples, in ms. */
  readonly fallbackMs: number;
}

/** `max(quantile of recent round trips, floor)`, or the fallback without enough samples. */
export function delayFrom(tracker: LatencyTracker, policy: DelayPolicy): number {
  const q = tracker.quantile(policy.quantile);
  return Math.max(policy.floorMs, q ?? policy.fallbackMs);
}
