/**
 * When a channel may be rebuilt: at once, or once the rebuild backoff allows. Counts
 * generations (one per rebuild) and spaces rebuilds by the library's one backoff
 * (`policy/backoff.ts`, cockatiel's decorrelated jitter), so a flapping peer cannot
 * cause a reconnect storm. A channel that comes back (READY) resets the backoff and
 * cancels a rebuild still waiting for it: tearing down a healthy channel would only
 * cancel the calls on it.
 */
import type { Logger } from '../logger';
import { Backoff } from '../policy/backoff';
import type { RebuildOptions } from '../policy/option-groups';

/** Spacing of rebuilds, in ms (see `RebuildOptions`). */
export type RebuildSpacing = Readonly<
  Required<Pick<RebuildOptions, 'initialBackoffMs' | 'maxBackoffMs'>>
>;

export class RebuildScheduler {
  private gen = 0;
  private count = 0;
  /** Spaces rebuilds; reset by {@link ready}. */
  private readonly backoff: Backoff;
  /** `Date.now()` before which no rebuild may happen (0: none since the last READY). */
  private notBefore = 0;
  /** A rebuild waiting for the backoff; defined iff its timer is armed. */
  private pending: { readonly timer: NodeJS.Timeout; readonly reason: string } | undefined;
  private stopped = false;

  /**
   * @param rebuild replaces the channels by the current generation's (already counted,
   *   so that callbacks firing while the old channels close see the new one); returns
   *   false to refuse (the channels were closed meanwhile), and nothing counts then
   * @param rebuilt runs after a rebuild, once the next one is scheduled
   */
  constructor(
    spacing: RebuildSpacing,
    private readonly log: Logger,
    private readonly rebuild: (reason: string) => boolean,
    private readonly rebuilt: (reason: string, generation: number) => void,
  ) {
    this.backoff = new Backoff({
      initialDelayMs: Math.max(1, spacing.initialBackoffMs),
      maxDelayMs: Math.max(1, spacing.maxBackoffMs),
    });
  }

  /** Current generation: 0 before the first rebuild, one more per rebuild. */
  get generation(): number {
    return this.gen;
  }

  /** Rebuilds so far. */
  get rebuilds(): number {
    return this.count;
  }

  /** Reason of the rebuild waiting for the backoff, if one is. */
  get pendingReason(): string | undefined {
    return this.pending?.reason;
  }

  /**
   * Asks for a rebuild: now, or when the backoff allows. Requests made while one is
   * waiting are merged into it.
   */
  request(reason: string): void {
    if (this.stopped || this.pending) {
      return;
    }
    const wait = this.notBefore - Date.now();
    if (wait <= 0) {
      this.run(reason);
      return;
    }
    const timer = setTimeout(() => {
      this.pending = undefined;
      this.run(reason);
    }, wait);
    timer.unref();
    this.pending = { timer, reason };
    this.log.debug({ reason, waitMs: Math.round(wait) }, 'rebuild scheduled');
  }

  /**
   * The current generation's channel became READY: the next rebuild starts from the
   * first delay again, and a rebuild still waiting is moot (it was asked for before
   * this connection came up).
   */
  ready(): void {
    this.backoff.reset();
    this.notBefore = 0;
    if (this.pending) {
      this.log.debug({ reason: this.pending.reason }, 'scheduled rebuild cancelled: channel READY');
      this.cancel();
    }
  }

  /** Cancels a waiting rebuild and refuses any later request; idempotent. */
  stop(): void {
    this.stopped = true;
    this.cancel();
  }

  private cancel(): void {
    if (this.pending) {
      clearTimeout(this.pending.timer);
      this.pending = undefined;
    }
  }

  private run(reason: string): void {
    if (this.stopped) {
      return;
    }
    this.gen++;
    if (!this.rebuild(reason)) {
      this.gen--;
      return;
    }
    this.count++;
    // Spaced from the end of this rebuild (closing many streams can take a few ms on a
    // busy machine), so rebuilds are never closer together than the delay.
    const delay = this.backoff.next();
    this.notBefore = Date.now() + delay;
    this.log.info(
      { reason, generation: this.gen, nextRebuildNotBeforeMs: Math.round(delay) },
      'channel rebuilt',
    );
    this.rebuilt(reason, this.gen);
  }
}
