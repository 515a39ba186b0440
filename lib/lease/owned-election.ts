/**
 * etcd3's `Election` whose campaigns hold an {@link OwnedLease}: a won campaign knows
 * when it can no longer be sure to be the leader, and may campaign again.
 */
import { Campaign, Election, type Namespace } from 'etcd3';
import type { Event } from '../events';
import type { Logger } from '../logger';
import { OwnedElectionObserver } from './election-observer';
import { namespaceParts } from './etcd3-lease-hooks';
import { keyArgument, leaseTtl } from './lease-args';
import { OwnedLease } from './owned-lease';
import type { LeaseFactory } from './owned-namespace';
import { Ownership } from './ownership';

/** Options of {@link OwnedElection.campaign}. */
export interface CampaignOptions {
  /**
   * After losing the lease (leadership or candidacy), campaign again with a new lease,
   * instead of emitting etcd3's `error`. Defaults to false (etcd3's behaviour).
   */
  readonly recampaign?: boolean;
  /**
   * Ends the campaign if it aborts before this candidate is elected: it resigns and
   * emits `error` with an `AbortError`; an already-aborted signal sends nothing. Once
   * elected it no longer matters. Handled by the client (lib/cancel/election.ts).
   */
  readonly signal?: AbortSignal;
}

/** First pause before campaigning again, ms; doubles up to {@link RECAMPAIGN_MAX_MS}. */
const RECAMPAIGN_INITIAL_MS = 250;
const RECAMPAIGN_MAX_MS = 4000;

/**
 * etcd3's `Campaign` plus:
 * - {@link signal}: aborted when the current term ends (lease lost or `error`: reason
 *   the error; `resign()`: `OwnershipEndedError('resigned')`);
 * - {@link onLost}: fires on each involuntary end of a term (also before `elected`);
 * - {@link isLeader}: elected and not lost since;
 * - `recampaign` option: after a loss, a new term starts with a new lease and
 *   `elected` fires again when won.
 *
 * `elected` is never emitted for a term whose lease is already lost.
 */
export class OwnedCampaign extends Campaign {
  private ownership: Ownership;
  private readonly lostEmitterSubs: Array<(err: Error) => void> = [];
  private elected = false;
  private resigned = false;
  private term = 0;
  private retryMs = RECAMPAIGN_INITIAL_MS;

  /** @internal Use `election.campaign(value)`. */
  constructor(
    private readonly ns: Namespace,
    value: string | Buffer,
    private readonly campaignTtl: number,
    private readonly options: CampaignOptions,
    private readonly log?: Logger,
  ) {
    super(ns, value, campaignTtl);
    this.ownership = this.newTerm();
  }

  /** Aborted when the current term ends; `signal.reason` says why. A new term has a new signal. */
  get signal(): AbortSignal {
    return this.ownership.signal;
  }

  /** True while elected and the term not ended. */
  get isLeader(): boolean {
    return this.elected && !this.ownership.ended;
  }

  /**
   * Fires on every involuntary end of a term (lease lost, campaign error), with the
   * cause; not on `resign()`. Listener errors are logged and dropped.
   */
  readonly onLost: Event<Error> = listener => {
    this.lostEmitterSubs.push(listener);
    const sub = this.ownership.onLost(listener);
    return {
      dispose: () => {
        sub.dispose();
        const i = this.lostEmitterSubs.indexOf(listener);
        if (i >= 0) {
          this.lostEmitterSubs.splice(i, 1);
        }
      },
    };
  };

  /** etcd3's `resign()`; the signal is aborted as `resigned`. */
  override resign(): Promise<void> {
    this.resigned = true;
    this.ownership.end('resigned');
    return super.resign();
  }

  /** @internal Tracks `elected`/`error` to end terms; etcd3's events are otherwise unchanged. */
  override emit(event: string | symbol, ...args: any[]): boolean {
    if (event === 'elected') {
      if (this.ownership.ended) {
        return false; // this term's lease is already gone: it must not announce leadership
      }
      this.elected = true;
      this.retryMs = RECAMPAIGN_INITIAL_MS;
    } else if (event === 'error') {
      const err = args[0] instanceof Error ? args[0] : new Error(String(args[0]));
      this.endTerm(err);
      if (this.options.recampaign && !this.resigned) {
        return true; // handled: a new term starts
      }
    }
    return super.emit(event, ...args);
  }

  private newTerm(): Ownership {
    const ownership = new Ownership('campaign', this.log);
    for (const l of this.lostEmitterSubs) {
      ownership.onLost(l);
    }
    return ownership;
  }

  private endTerm(err: Error): void {
    if (this.ownership.ended) {
      return;
    }
    this.elected = false;
    this.ownership.lose(err);
    if (this.options.recampaign && !this.resigned) {
      const term = ++this.term;
      const delay = this.retryMs;
      this.retryMs = Math.min(RECAMPAIGN_MAX_MS, this.retryMs * 2);
      setTimeout(() => this.restart(term), delay).unref();
    }
  }

  /** A new term: new lease, new key, etcd3's own campaign steps. */
  private restart(term: number): void {
    if (this.resigned || term !== this.term) {
      return;
    }
    const self = this as unknown as {
      lease: OwnedLease;
      keyRevision: unknown;
      start(): Promise<void>;
    };
    const old = self.lease;
    void old.revoke().catch(() => undefined);
    this.ownership = this.newTerm();
    const lease = this.ns.lease(this.campaignTtl) as OwnedLease;
    self.lease = lease;
    self.keyRevision = undefined;
    lease.on('lost', err => this.emit('error', err));
    self.start().catch(err => this.emit('error', err));
  }
}

/**
 * etcd3's `Election` whose campaigns are {@link OwnedCampaign}s and whose observers are
 * {@link OwnedElectionObserver}s.
 */
export class OwnedElection extends Election {
  /** @internal Use `client.election(name, ttl)`. */
  constructor(
    parent: Namespace,
    name: string,
    private readonly electionTtl = 60,
    private readonly log?: Logger,
    newLease: LeaseFactory = (pool, ns, ttl, options) =>
      new OwnedLease(pool, ns, ttl, options, log),
  ) {
    super(parent, keyArgument(name, 'name'), leaseTtl(electionTtl, 'ttl')); // before any I/O
    const ns = (this as unknown as { namespace: Namespace }).namespace;
    const { pool, nsApplicator } = namespaceParts(ns);
    ns.lease = (ttl, options) => newLease(pool, nsApplicator, ttl, options);
  }

  /**
   * etcd3's `campaign(value)`; with `{ recampaign: true }` the campaign starts a new
   * term after a loss instead of emitting `error`.
   */
  override campaign(
    value: string | Buffer,
    options: CampaignOptions & { signal?: AbortSignal } = {},
  ): OwnedCampaign {
    const ns = (this as unknown as { namespace: Namespace }).namespace;
    return new OwnedCampaign(ns, value, this.electionTtl, options, this.log);
  }

  /**
   * etcd3's `observe()`, returning an {@link OwnedElectionObserver}: every leadership
   * change is reported in revision order (a new term with the same value too), with
   * the term's create revision on `onLeader`, and `onGap` if etcd compacted history
   * the observer needed. Resolves once the first `change` was emitted (with the
   * current leader, or undefined); rejects if the first read fails. Call `cancel()`
   * when done.
   */
  override observe(): Promise<OwnedElectionObserver> {
    const ns = (this as unknown as { namespace: Namespace }).namespace;
    const observer = new OwnedElectionObserver(ns, this.log);
    return new Promise((resolve, reject) => {
      observer.once('change', () => resolve(observer));
      observer.once('error', reject);
    });
  }
}
