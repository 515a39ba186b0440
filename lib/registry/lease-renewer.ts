/**
 * Keeps one granted lease alive and says when it is lost: a keepalive every
 * interval over one stream (each with a reply deadline), a `LeaseTimeToLive`
 * check after a failed keepalive, and an expiry timer at "last renewal + TTL".
 */
import { ClientClosedError, type LeaseClient } from 'etcd3';
import type { Logger } from '../logger';
import { KeepaliveStream } from './keepalive-stream';
import type { ResolvedLeaseOptions } from './lease-options';
import { describeError } from '../policy/describe-error';
import { deadlineIn } from './util';

/** Why renewal gave up: etcd said TTL ≤ 0, or no keepalive succeeded for a TTL. */
export type RenewalLoss = 'expired' | 'keepalive-timeout';

/**
 * Renews the lease given to {@link start} until {@link stop} or a loss, which is
 * reported once through `onLoss` (renewal stops by itself then).
 *
 * Invariant: `run` changes on every start/stop, and async work started under an
 * older value does nothing when it completes.
 */
export class LeaseRenewer {
  private readonly stream: KeepaliveStream;
  private run = 0;
  private id: string | undefined;
  private ttlMs = 0;
  private lastRenewedAt = 0;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private pinging = false;

  constructor(
    private readonly leaseClient: LeaseClient,
    private readonly opts: ResolvedLeaseOptions,
    private readonly log: Logger,
    private readonly onLoss: (reason: RenewalLoss, sinceRenewalMs: number) => void,
    private readonly onClientClosed: () => void,
  ) {
    this.stream = new KeepaliveStream(leaseClient);
  }

  /** TTL etcd last reported, seconds. */
  get ttlSeconds(): number {
    return this.ttlMs / 1000;
  }

  /** ms since the last successful renewal (or the grant). */
  get sinceRenewalMs(): number {
    return Date.now() - this.lastRenewedAt;
  }

  /** Keepalive streams opened so far. */
  get streamsOpened(): number {
    return this.stream.streamsOpened;
  }

  /** Remote `host:port` of the keepalive stream's connection, when known. */
  get peer(): string | undefined {
    return this.stream.peer;
  }

  /** Starts renewing lease `id`, just granted with `ttlSeconds`. */
  start(id: string, ttlSeconds: number): void {
    this.stop();
    this.id = id;
    this.ttlMs = ttlSeconds * 1000;
    this.lastRenewedAt = Date.now();
    this.armExpiry();
    this.schedule(this.opts.keepaliveIntervalMs);
  }

  /** Stops renewing (the stream stays open for the next lease). */
  stop(): void {
    this.run++;
    this.id = undefined;
    clearTimeout(this.keepaliveTimer);
    clearTimeout(this.expiryTimer);
    this.keepaliveTimer = this.expiryTimer = undefined;
  }

  /** Stops and closes the stream. */
  close(): void {
    this.stop();
    this.stream.close();
  }

  /** Sends a keepalive now, unless one is in flight. */
  probe(): void {
    if (this.id !== undefined && !this.pinging) {
      clearTimeout(this.keepaliveTimer);
      void this.tick();
    }
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.keepaliveTimer);
    this.keepaliveTimer = setTimeout(() => void this.tick(), delayMs);
    this.keepaliveTimer.unref?.();
  }

  private async tick(): Promise<void> {
    const run = this.run;
    const id = this.id;
    if (id === undefined) {
      return;
    }
    this.pinging = true;
    let ttlSeconds: number;
    try {
      ttlSeconds = await this.stream.ping(id, this.opts.keepaliveTimeoutMs);
    } catch (err) {
      if (this.run === run) {
        this.log.debug(
          { leaseId: id, err: describeError(err) },
          'keepalive failed; checking the lease',
        );
        await this.checkTimeToLive(id, run);
      }
      return;
    } finally {
      this.pinging = false;
    }
    if (this.run !== run) {
      return;
    }
    if (!(ttlSeconds > 0)) {
      this.lose('expired');
      return;
    }
    this.lastRenewedAt = Date.now();
    this.ttlMs = ttlSeconds * 1000;
    this.armExpiry();
    this.schedule(this.opts.keepaliveIntervalMs);
  }

  /**
   * After a failed keepalive: asks etcd (`LeaseTimeToLive`, a read our client may
   * retry and uses to spot a dead connection) whether the lease still exists. Gone:
   * lost at once. Exists: keepalive again now. No answer: retry shortly; the expiry
   * timer declares the loss when the TTL has run out.
   */
  private async checkTimeToLive(id: string, run: number): Promise<void> {
    let ttlSeconds: number | undefined;
    try {
      const res = await this.leaseClient.leaseTimeToLive(
        { ID: id },
        deadlineIn(this.opts.keepaliveTimeoutMs),
      );
      ttlSeconds = Number(res.TTL);
    } catch (err) {
      if (err instanceof ClientClosedError && this.run === run) {
        this.stop();
        this.onClientClosed();
        return;
      }
      this.log.debug({ leaseId: id, err: describeError(err) }, 'lease time-to-live check failed');
    }
    if (this.run !== run) {
      return;
    }
    if (ttlSeconds !== undefined && !(ttlSeconds > 0)) {
      this.lose('expired');
    } else {
      this.schedule(ttlSeconds === undefined ? this.opts.keepaliveRetryMs : 0);
    }
  }

  /** Etcd expires the lease at most a TTL after our last renewal's reply: declare it lost then. */
  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    const remaining = this.lastRenewedAt + this.ttlMs - Date.now();
    this.expiryTimer = setTimeout(() => this.lose('keepalive-timeout'), Math.max(0, remaining));
    this.expiryTimer.unref?.();
  }

  private lose(reason: RenewalLoss): void {
    const sinceRenewalMs = Date.now() - this.lastRenewedAt;
    this.stop();
    this.onLoss(reason, sinceRenewalMs);
  }
}
