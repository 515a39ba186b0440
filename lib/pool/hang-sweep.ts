/**
 * The timer that reveals hangs while unary calls are in flight: every `SWEEP_MS` it
 * probes each endpoint whose oldest unanswered call is older than its force delay (a
 * call alone on one endpoint has no hedge to reveal a hang). It stops by itself once
 * no call is in flight, and is armed again by the next attempt.
 */
import type { CallPool } from './call-context';

/** How often calls in flight are checked for hangs. */
const SWEEP_MS = 100;

export class HangSweep {
  /** Defined iff the sweep is running (some call was in flight at its last tick). */
  private timer?: NodeJS.Timeout;

  constructor(private readonly pool: CallPool) {}

  /** Arms the sweep if it is not running (called as an attempt is sent). */
  start(): void {
    if (this.timer || this.pool.closed) {
      return;
    }
    this.timer = setInterval(() => this.tick(), SWEEP_MS);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = Date.now();
    let busy = false;
    for (const ep of this.pool.endpoints) {
      const age = ep.oldestCallAgeMs(now);
      busy ||= age > 0;
      if (age > this.pool.forceDelayMs(ep)) {
        this.pool.probe(ep);
      }
    }
    if (!busy) {
      this.close();
    }
  }
}
