/**
 * Keeps one granted lease alive and declares it lost from the holder's own bound on
 * etcd's expiry (see {@link ExpiryBound}), even when the network is silent.
 *
 * - A keepalive is sent every TTL/3 on the primary stream, more often for short TTLs
 *   (down to every TTL/10) so that the last acknowledged one leaves room for an etcd
 *   leader election (see {@link ELECTION_ALLOWANCE_MS}): while a cluster has no leader
 *   no keepalive is answered, yet the lease must not be declared lost.
 * - A keepalive not answered within the hedge delay (`max(TTL/6, 2 × the slowest of the
 *   last 8 round trips)`, at most TTL/2) is sent again on a second stream, which the
 *   pool opens on another member (the slow one is ranked last). The first stream to
 *   answer becomes the primary; the other is cancelled. A slow but working member is
 *   never abandoned before another one answers.
 * - A stream that fails or ends is replaced at once, and a keepalive sent on the new
 *   one: the keepalive moves to another member within one round trip.
 * - The lease is declared lost at `expiresBy - max(100 ms, 5 % of TTL)`, on the real
 *   monotonic clock (fake timers do not move it; see `monotonicNow`).
 * - etcd3's own rules run beside it on the global timers and `Date.now` (see
 *   `etcd3-keepalive-rules.ts`), so the events an etcd3 user sees are etcd3's: a
 *   `keepaliveFailed` before every loss of the loop, etcd3's error and message.
 */
import {
  EtcdLeaseInvalidError,
  GRPCUnavailableError,
  castGrpcError,
  type ILeaseKeepAliveResponse,
} from 'etcd3';
import {
  RECONNECT_DELAY_MS,
  SilenceTimer,
  leaseExpiredError,
  silentTooLong,
  streamTimedOutError,
} from './etcd3-keepalive-rules';
import { timerDelay } from '../policy/timer-delay';
import { ExpiryBound, monotonicNow, safetyMarginMs } from './expiry-bound';
import {
  dropStream,
  noteSlow,
  openKeepaliveStream,
  type KeepaliveDuplex,
  type StreamPool,
} from './open-keepalive-stream';

/**
 * Time an etcd leader election may take, ms, from the old leader's death to a held
 * keepalive answered by the new one: with etcd's default 1 s election timeout a follower
 * campaigns 1–2 s after the last heartbeat, then the keepalive is forwarded. The
 * keepalive interval keeps `TTL - margin - interval` above this when the TTL allows.
 */
export const ELECTION_ALLOWANCE_MS = 2500;

/** Round-trip samples kept for the hedge delay. */
const RTT_SAMPLES = 8;

/** What the loop reports to its lease. */
export interface KeepaliveLoopHost {
  /** One of etcd3's `Lease` events. */
  emit(
    event: 'keepaliveFired' | 'keepaliveSucceeded' | 'keepaliveFailed' | 'keepaliveEstablished',
    arg?: unknown,
  ): void;
  /** The lease must be considered lost; called at most once, after the loop stopped. */
  lost(err: Error): void;
  /**
   * etcd3's `lastKeepAlive` (`Date.now()` of the last answer): set on every answer, read
   * by etcd3's 2×TTL rule (code that sets it, as etcd3's tests do, is honoured).
   */
  lastKeepAlive: number;
}

interface Tracked {
  readonly stream: KeepaliveDuplex;
  readonly resource: unknown;
  /** Send times (monotonic) of keepalives not answered yet, oldest first (etcd answers in order). */
  readonly sends: number[];
}

/**
 * Invariants: `streams[0]` is the primary stream, any further entry a hedge; a stream
 * not in `streams` is ignored whatever it reports. After `stop()` nothing is sent,
 * scheduled or reported.
 */
export class KeepaliveLoop {
  /** The holder's bound on etcd's expiry of the lease. */
  public readonly bound = new ExpiryBound();
  /** Streams opened so far. */
  public streamsOpened = 0;
  private streams: Tracked[] = [];
  private opening = false;
  private stopped = false;
  private running = false;
  private id = '';
  private lastAckedSentAt = -Infinity;
  private ttlSeconds = 0;
  /** The grant was answered too late to bound anything; the first keepalive sets the bound. */
  private unconfirmed = false;
  private readonly rtts: number[] = [];
  private tickTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private readonly hedgeTimers = new Set<NodeJS.Timeout>();
  /** etcd3's rule: no answer for the requested TTL → `keepaliveFailed`, stream replaced. */
  private readonly silence = new SilenceTimer(() => this.silent());
  /** `keepaliveFailed` was emitted since the last answer. */
  private failedSinceAnswer = false;

  constructor(
    private readonly pool: StreamPool,
    private readonly host: KeepaliveLoopHost,
    private readonly now: () => number = monotonicNow,
  ) {}

  /** The remote member (pool resource) carrying the primary stream, if any. */
  get resource(): unknown {
    return this.streams[0]?.resource;
  }

  /** ms until the lease is declared lost, from now. */
  get remainingMs(): number {
    return this.bound.remainingMs(this.now());
  }

  /**
   * Lease `id` was granted by a request sent at `sentAt` (monotonic ms) with
   * `ttlSeconds`, answered after `rttMs`. Arms the expiry bound only (no keepalives).
   */
  granted(id: string, sentAt: number, ttlSeconds: number, rttMs: number): void {
    this.id = id;
    this.sample(rttMs);
    this.ttlSeconds = ttlSeconds;
    const margin = safetyMarginMs(ttlSeconds * 1000);
    // A grant answered within half its TTL bounds the lease by itself; one answered later
    // (a slow first connection) leaves too little time for a keepalive round trip.
    if (sentAt + ttlSeconds * 1000 - margin - this.now() >= (ttlSeconds * 1000) / 2) {
      this.acknowledged(sentAt, ttlSeconds);
    } else {
      // The first keepalive, sent now, sets the bound instead (see send()).
      this.unconfirmed = true;
    }
    if (this.running) {
      this.tick();
    }
  }

  /** Starts sending keepalives (now if granted, else once {@link granted}). Idempotent. */
  start(): void {
    if (this.running || this.stopped) {
      return;
    }
    this.running = true;
    if (this.id) {
      this.tick();
    }
  }

  /** A keepalive sent at `sentAt` was acknowledged elsewhere (e.g. `keepaliveOnce`). */
  acknowledged(sentAt: number, ttlSeconds: number): void {
    if (this.stopped) {
      return;
    }
    this.lastAckedSentAt = Math.max(this.lastAckedSentAt, sentAt);
    this.bound.acknowledged(sentAt, ttlSeconds);
    this.armExpiry();
  }

  /** Stops everything and ends the streams. Idempotent. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.tickTimer);
    clearTimeout(this.expiryTimer);
    clearTimeout(this.reopenTimer);
    this.silence.clear();
    this.hedgeTimers.forEach(t => clearTimeout(t));
    this.hedgeTimers.clear();
    const streams = this.streams;
    this.streams = [];
    for (const t of streams) {
      try {
        t.stream.end();
      } catch {
        // already closed
      }
    }
  }

  private get ttlMs(): number {
    return this.bound.ttlMs || this.ttlSeconds * 1000;
  }

  /** The TTL the lease was requested with, ms (etcd3 times its rules on it). */
  private get requestedTtlMs(): number {
    return this.ttlSeconds * 1000;
  }

  /**
   * Keepalive interval: a third of the smaller of the requested and granted TTLs, or
   * less (down to a tenth) when that leaves under {@link ELECTION_ALLOWANCE_MS} between
   * the last acknowledged keepalive and the loss bound (TTLs under ~4 s; 350 ms for 3 s).
   */
  private get intervalMs(): number {
    const ttl = Math.min(this.requestedTtlMs || this.ttlMs, this.ttlMs || this.requestedTtlMs);
    const rideOutElection = ttl - safetyMarginMs(ttl) - ELECTION_ALLOWANCE_MS;
    return Math.min(ttl / 3, Math.max(ttl / 10, rideOutElection));
  }

  private get hedgeDelayMs(): number {
    const slowest = this.rtts.length ? Math.max(...this.rtts) : 0;
    return Math.min(this.ttlMs / 2, Math.max(this.ttlMs / 6, 2 * slowest));
  }

  private tick(): void {
    if (this.stopped) {
      return;
    }
    const primary = this.streams[0];
    if (primary) {
      this.send(primary);
    } else {
      this.open(false);
    }
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.tickTimer);
    this.tickTimer = setTimeout(() => this.tick(), timerDelay(this.intervalMs));
  }

  private send(t: Tracked): void {
    const sentAt = this.now();
    t.sends.push(sentAt);
    if (this.unconfirmed) {
      // If etcd still has the lease, this keepalive extends it to at least sentAt + TTL;
      // if it does not answer by then minus the margin, the lease is lost.
      this.unconfirmed = false;
      this.bound.acknowledged(sentAt, this.ttlSeconds);
      this.armExpiry();
    }
    this.host.emit('keepaliveFired');
    try {
      t.stream.write({ ID: this.id });
    } catch (err) {
      this.failed(t, err);
      return;
    }
    const timer = setTimeout(() => {
      this.hedgeTimers.delete(timer);
      this.checkAnswered(t, sentAt);
    }, timerDelay(this.hedgeDelayMs));
    timer.unref?.();
    this.hedgeTimers.add(timer);
  }

  /** A keepalive still unanswered after the hedge delay: send one on another member too. */
  private checkAnswered(t: Tracked, sentAt: number): void {
    if (this.stopped || this.lastAckedSentAt > sentAt || !t.sends.includes(sentAt)) {
      return;
    }
    noteSlow(t.resource, this.now() - sentAt);
    this.open(true);
  }

  /** Opens a stream: a replacement primary, or (`hedge`) a second one beside it. */
  private open(hedge: boolean): void {
    if (this.opening || this.stopped) {
      return;
    }
    this.opening = true;
    openKeepaliveStream(this.pool).then(
      ({ stream, resource }) => {
        this.opening = false;
        this.streamsOpened++;
        if (this.stopped) {
          dropStream(stream);
          return;
        }
        const t: Tracked = { stream, resource, sends: [] };
        this.attach(t);
        const primary = !(hedge && this.streams.length > 0);
        if (primary) {
          this.streams.unshift(t);
          // As etcd3 on a new stream: the silence countdown and the interval restart.
          this.silence.arm(this.requestedTtlMs);
          this.schedule();
        } else {
          // Keep the primary (it may still answer) and at most this one hedge.
          this.streams.splice(1).forEach(old => dropStream(old.stream));
          this.streams.push(t);
        }
        this.host.emit('keepaliveEstablished');
        this.send(t);
      },
      (err: unknown) => {
        this.opening = false;
        if (this.stopped) {
          return;
        }
        this.keepaliveFailed(castError(err));
        if (this.streams.length === 0) {
          this.reconnectLater();
        }
      },
    );
  }

  /** Re-opens the primary stream after a failure, unless etcd3's 2×TTL rule says lost. */
  private reconnect(): void {
    if (this.stopped) {
      return;
    }
    if (silentTooLong(this.host.lastKeepAlive, this.requestedTtlMs)) {
      this.lose(leaseExpiredError());
      return;
    }
    this.open(false);
  }

  private reconnectLater(): void {
    clearTimeout(this.reopenTimer);
    this.reopenTimer = setTimeout(() => this.reconnect(), RECONNECT_DELAY_MS);
    this.reopenTimer.unref?.();
  }

  /** etcd3's silence rule fired: no answer for the requested TTL. */
  private silent(): void {
    if (this.stopped) {
      return;
    }
    this.keepaliveFailed(streamTimedOutError());
    const streams = this.streams;
    this.streams = [];
    streams.forEach(t => dropStream(t.stream));
    this.reconnectLater();
  }

  private keepaliveFailed(err: Error): void {
    this.failedSinceAnswer = true;
    this.host.emit('keepaliveFailed', err);
  }

  private attach(t: Tracked): void {
    t.stream.on('data', (res: ILeaseKeepAliveResponse) => this.answered(t, res));
    t.stream.on('error', (err: unknown) => this.failed(t, err));
    t.stream.on('end', () =>
      this.failed(t, new GRPCUnavailableError('lease keepalive stream ended')),
    );
  }

  private answered(t: Tracked, res: ILeaseKeepAliveResponse): void {
    if (this.stopped || !this.streams.includes(t)) {
      return;
    }
    const sentAt = t.sends.shift();
    if (!(Number(res.TTL) > 0)) {
      const err = new EtcdLeaseInvalidError(res.ID);
      this.keepaliveFailed(err); // as etcd3: keepaliveFailed, then lost, same error
      this.lose(err);
      return;
    }
    this.failedSinceAnswer = false;
    this.host.lastKeepAlive = Date.now();
    this.silence.arm(this.requestedTtlMs);
    if (sentAt !== undefined) {
      this.sample(this.now() - sentAt);
      this.acknowledged(sentAt, Number(res.TTL));
    }
    if (this.streams[0] !== t) {
      // The hedge answered first: it becomes the primary, the others go.
      this.streams.filter(o => o !== t).forEach(o => dropStream(o.stream));
      this.streams = [t];
    }
    this.host.emit('keepaliveSucceeded', res);
  }

  private failed(t: Tracked, err: unknown): void {
    if (this.stopped || !this.streams.includes(t)) {
      return;
    }
    this.streams = this.streams.filter(o => o !== t);
    dropStream(t.stream);
    const cast = castError(err);
    this.keepaliveFailed(cast);
    if (cast instanceof EtcdLeaseInvalidError) {
      this.lose(cast);
    } else if (this.streams.length === 0) {
      this.reconnect(); // at once (etcd3 waits 100 ms): the keepalive moves to another member
    }
  }

  private sample(rttMs: number): void {
    if (Number.isFinite(rttMs) && rttMs >= 0) {
      this.rtts.push(rttMs);
      if (this.rtts.length > RTT_SAMPLES) {
        this.rtts.shift();
      }
    }
  }

  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    const delay = this.bound.lostAt - this.now();
    this.expiryTimer = setTimeout(() => {
      if (this.stopped) {
        return;
      }
      if (this.now() >= this.bound.lostAt) {
        this.expired();
      } else {
        this.armExpiry(); // a timer fired early, or timers are faked (the clock is real)
      }
    }, timerDelay(delay));
    this.expiryTimer.unref?.();
  }

  /**
   * Our bound passed with no answer: etcd3's events for a silent network, earlier
   * (`keepaliveFailed` unless one was emitted since the last answer, then `lost` with
   * etcd3's "our lease has expired" error).
   */
  private expired(): void {
    if (!this.failedSinceAnswer) {
      this.keepaliveFailed(streamTimedOutError());
    }
    this.lose(leaseExpiredError());
  }

  private lose(err: Error): void {
    this.stop();
    this.host.lost(err);
  }
}

function castError(err: unknown): Error {
  return err instanceof Error ? castGrpcError(err) : new Error(String(err));
}
