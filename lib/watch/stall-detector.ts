/**
 * Notices a watch stream that went silent. With no response of any kind for
 * `stallTimeoutMs` it asks for a probe (the hub sends a progress request); if
 * nothing arrives within `progressTimeoutMs` after that, it reports a stall.
 * One timer, re-armed lazily: activity only records a timestamp.
 */

/** Stall timing; the hub passes the smallest values of its watches. */
export interface WatchTiming {
  /** Silence before a probe, in ms. */
  readonly stallTimeoutMs: number;
  /** Time a probe may go unanswered, in ms. */
  readonly progressTimeoutMs: number;
}

/** Timing a watch uses when its owner sets none (discovery's defaults): 30 s of silence, 5 s for the probe. */
export const DEFAULT_WATCH_TIMING: WatchTiming = {
  stallTimeoutMs: 30_000,
  progressTimeoutMs: 5_000,
};

export class StallDetector {
  private timer: NodeJS.Timeout | undefined;
  private lastActivity = 0;
  /** `Date.now()` when the unanswered probe was sent, if one is. */
  private probeSentAt: number | undefined;
  private running = false;

  constructor(
    private readonly timing: () => WatchTiming,
    private readonly probe: (idleMs: number) => void,
    private readonly stalled: (idleMs: number, progressTimeoutMs: number) => void,
  ) {}

  /** Starts watching a fresh stream (counts as activity). */
  start(): void {
    this.running = true;
    this.activity();
    this.schedule(this.timing().stallTimeoutMs);
  }

  /** Something arrived on the stream. */
  activity(): void {
    this.lastActivity = Date.now();
    this.probeSentAt = undefined;
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.probeSentAt = undefined;
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.check(), Math.max(1, delayMs));
    this.timer.unref();
  }

  private check(): void {
    if (!this.running) {
      return;
    }
    const { stallTimeoutMs, progressTimeoutMs } = this.timing();
    const now = Date.now();
    if (this.probeSentAt !== undefined) {
      const waited = now - this.probeSentAt;
      if (waited < progressTimeoutMs) {
        this.schedule(progressTimeoutMs - waited);
        return;
      }
      this.stop();
      this.stalled(now - this.lastActivity, progressTimeoutMs);
      return;
    }
    const idle = now - this.lastActivity;
    if (idle < stallTimeoutMs) {
      this.schedule(stallTimeoutMs - idle);
      return;
    }
    this.probeSentAt = now;
    this.schedule(progressTimeoutMs);
    this.probe(idle);
  }
}
