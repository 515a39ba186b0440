/**
 * A cap on the extra load the pool adds on its own: hedged attempts (a second copy of
 * a slow read sent to another endpoint) and, if the pool charges them here, retries.
 * Like gRPC's retry throttling (gRFC A6) and Finagle's retry budget, extra attempts
 * are allowed only in proportion to the calls made: over a sliding window, at most
 * `ratio` extra attempts per call, plus `minPerWindow` so that a quiet client can
 * still hedge now and then. When every endpoint is slow (an overloaded cluster), the
 * pool therefore adds at most about `ratio` more requests instead of doubling them.
 *
 * The window is `slots` buckets of `windowMs / slots` each, so a call or an extra
 * attempt costs O(1) (amortised over the slots that expire).
 */

/** Options of {@link HedgeBudget}. */
export interface HedgeBudgetOptions {
  /** Extra attempts allowed per call over the window. Defaults to 0.1 (10 % more requests). */
  ratio?: number;
  /** Extra attempts allowed per window whatever the traffic. Defaults to 5. */
  minPerWindow?: number;
  /** Length of the sliding window. Defaults to 10000 (10 s). */
  windowMs?: number;
  /** Buckets the window is made of. Defaults to 10. */
  slots?: number;
  /** Clock, for tests. Defaults to `Date.now`. */
  now?: () => number;
}

/** Counts over the current window, as {@link HedgeBudget.stats} reports them. */
export interface HedgeBudgetStats {
  /** Calls made (each deposited once). */
  readonly calls: number;
  /** Extra attempts granted. */
  readonly extras: number;
  /** Extra attempts refused because the budget was spent. */
  readonly refused: number;
}

/** See the module comment. */
export class HedgeBudget {
  private readonly ratio: number;
  private readonly minPerWindow: number;
  private readonly slotMs: number;
  private readonly now: () => number;
  private readonly calls: Float64Array;
  private readonly extras: Float64Array;
  private readonly refusals: Float64Array;
  /** Sums over every slot of the window; kept in step with the arrays. */
  private callSum = 0;
  private extraSum = 0;
  private refusedSum = 0;
  /** Absolute number (`floor(now / slotMs)`) of the newest slot. */
  private head: number;
  /** Index in the arrays of slot `head`. */
  private headIndex: number;

  constructor(options: HedgeBudgetOptions = {}) {
    this.ratio = options.ratio ?? 0.1;
    this.minPerWindow = options.minPerWindow ?? 5;
    const slots = Math.max(1, Math.floor(options.slots ?? 10));
    this.slotMs = Math.max(1, (options.windowMs ?? 10_000) / slots);
    this.now = options.now ?? Date.now;
    this.calls = new Float64Array(slots);
    this.extras = new Float64Array(slots);
    this.refusals = new Float64Array(slots);
    this.head = Math.floor(this.now() / this.slotMs);
    this.headIndex = this.indexOf(this.head);
  }

  /** Counts one call (its first attempt): it earns `ratio` extra attempts. */
  deposit(): void {
    this.calls[this.advance()]++;
    this.callSum++;
  }

  /**
   * Takes one extra attempt from the budget: true if the window allows it (and counts
   * it), false if spent (counted as refused).
   */
  tryWithdraw(): boolean {
    const slot = this.advance();
    if (this.extraSum + 1 > this.ratio * this.callSum + this.minPerWindow) {
      this.refusals[slot]++;
      this.refusedSum++;
      return false;
    }
    this.extras[slot]++;
    this.extraSum++;
    return true;
  }

  /** True if an extra attempt would be granted now (takes nothing). */
  get available(): boolean {
    this.advance();
    return this.extraSum + 1 <= this.ratio * this.callSum + this.minPerWindow;
  }

  /** Counts over the current window. */
  get stats(): HedgeBudgetStats {
    this.advance();
    return { calls: this.callSum, extras: this.extraSum, refused: this.refusedSum };
  }

  /** Moves the window up to now, clearing the slots that fell out; returns the newest slot's index. */
  private advance(): number {
    const current = Math.floor(this.now() / this.slotMs);
    if (current === this.head) {
      return this.headIndex; // the common case: still in the newest slot
    }
    const slots = this.calls.length;
    const steps = Math.min(current - this.head, slots);
    for (let k = 1; k <= steps; k++) {
      const i = this.indexOf(this.head + k);
      this.callSum -= this.calls[i]!;
      this.extraSum -= this.extras[i]!;
      this.refusedSum -= this.refusals[i]!;
      this.calls[i] = this.extras[i] = this.refusals[i] = 0;
    }
    if (current > this.head) {
      this.head = current;
      this.headIndex = this.indexOf(current);
    }
    return this.headIndex;
  }

  /** Index in the arrays of absolute slot `slot`. */
  private indexOf(slot: number): number {
    const slots = this.calls.length;
    return ((slot % slots) + slots) % slots;
  }
}
