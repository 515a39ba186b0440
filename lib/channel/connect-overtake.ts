/**
 * Overtakes a stuck connection attempt instead of waiting it out. A channel's connect
 * limit stretches on a slow link (the etcd pool doubles it after each connect timeout,
 * so a handshake slower than `connectTimeoutMs` still completes), but a handshake that
 * was started into a dead path (a blackhole: the TCP connection is accepted and then
 * nothing comes back) stays silent after the path heals, and the channel would sit out
 * the whole stretched limit.
 *
 * So while an attempt is CONNECTING, the path is tested now and then with a fresh,
 * throwaway connection (`probe`). If the fresh one gets an answer while the attempt,
 * started earlier, still has none, the attempt is dead: on a merely slow link the older
 * handshake would have finished first. If the fresh one is refused, the path rejects
 * new connections: the attempt is as good as dead too, and only a new channel (which
 * re-dials with grpc-js's backoff) notices when it is back. If the fresh one is silent
 * too, the link is slow or still dead, and the attempt is left to its limit.
 *
 * Bounded: one probe in flight at most, at most one started per `everyMs`, each waiting
 * at most `everyMs`; none before the attempt is `everyMs` old (a healthy handshake is
 * over by then) and none once it ended.
 */
import type { Logger } from '../logger';

/** What a fresh connection to the peer did (see `pool/fresh-probe.ts`). */
export type PathAnswer = 'answered' | 'refused' | 'silent';

/**
 * Tries a fresh, throwaway connection to the peer and says whether it was answered
 * within `timeoutMs`, refused, or stayed silent. Must not reject.
 */
export type PathProbe = (timeoutMs: number) => Promise<PathAnswer>;

/** The shortest probe spacing, in ms: a tiny `connectTimeoutMs` must not make a probe storm. */
export const MIN_OVERTAKE_EVERY_MS = 50;

export class ConnectOvertaker {
  /**
   * Bumped when an attempt starts or ends: a probe of an earlier attempt, or a timer
   * armed for one, no longer counts.
   */
  private attempt = 0;
  /** True while the current attempt is CONNECTING and being probed. */
  private active = false;
  private everyMs = MIN_OVERTAKE_EVERY_MS;
  /** Next probe of the current attempt; defined iff armed. */
  private timer: NodeJS.Timeout | undefined;
  /** True while a probe is in flight (of this attempt or an earlier one). */
  private inFlight = false;
  /** A probe of the current attempt is due but waits for the one in flight. */
  private due = false;
  private stopped = false;
  private started = 0;

  /**
   * @param onStuck the current attempt is dead (a fresh connection was answered or
   *   refused while it still had no answer); called at most once per attempt
   */
  constructor(
    private readonly probe: PathProbe,
    private readonly log: Logger,
    private readonly onStuck: (answer: Exclude<PathAnswer, 'silent'>) => void,
  ) {}

  /** Probes started so far. */
  get probes(): number {
    return this.started;
  }

  /**
   * The channel started a connection attempt: probe it after `everyMs` (at least
   * {@link MIN_OVERTAKE_EVERY_MS}), then every `everyMs` while it lasts.
   */
  connecting(everyMs: number): void {
    this.settled();
    if (this.stopped) {
      return;
    }
    this.active = true;
    this.everyMs = Math.max(MIN_OVERTAKE_EVERY_MS, everyMs);
    this.arm(this.everyMs);
  }

  /** The attempt ended (READY, TRANSIENT_FAILURE, IDLE) or was replaced: probing stops. */
  settled(): void {
    this.attempt++;
    this.active = false;
    this.due = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Stops for good; a probe in flight ends without effect. Idempotent. */
  stop(): void {
    this.stopped = true;
    this.settled();
  }

  private arm(ms: number): void {
    const attempt = this.attempt;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (attempt === this.attempt) {
        this.run();
      }
    }, ms);
    this.timer.unref();
  }

  private run(): void {
    if (this.inFlight) {
      this.due = true; // started when the one in flight ends
      return;
    }
    this.due = false;
    this.inFlight = true;
    this.started++;
    const attempt = this.attempt;
    const startedAt = Date.now();
    const settle = (answer: PathAnswer) => {
      this.inFlight = false;
      if (this.stopped || !this.active) {
        return;
      }
      if (attempt !== this.attempt) {
        // A probe of an earlier attempt says nothing about this one; start its own.
        if (this.due) {
          this.run();
        }
        return;
      }
      if (answer === 'silent') {
        const wait = startedAt + this.everyMs - Date.now();
        if (wait > 0) {
          this.arm(wait);
        } else {
          this.run();
        }
        return;
      }
      this.log.info(
        { freshConnection: answer, afterMs: Date.now() - startedAt },
        'connection attempt overtaken: a fresh connection got through while it hangs',
      );
      this.settled();
      this.onStuck(answer);
    };
    let answer: Promise<PathAnswer>;
    try {
      answer = this.probe(this.everyMs);
    } catch {
      answer = Promise.resolve('silent');
    }
    answer.then(settle, () => settle('silent'));
  }
}
