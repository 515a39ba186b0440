/**
 * The keys attached to a {@link DurableLease}: what each should look like in etcd
 * and one loop that makes it so (puts under the current lease, deletes of
 * detached keys), with bounded concurrency and jittered backoff on failure.
 *
 * Writes are never cut short and resent: each is one etcd call with a deadline
 * (not marked `retryWrites`), retried only after it failed. Every write is a txn
 * conditional on the key's mod revision as we last knew it, so a late copy of an
 * old put cannot overwrite a newer state, and a delete only removes what is ours
 * (our current lease). One case no compare can catch: an old put that expected the
 * key absent, landing after we deleted it (absent looks the same before and after).
 * So when a put of ours ended with an unknown outcome while the key was absent, a
 * deleted key is kept as a guarded tombstone while the lease lives, and if the late
 * copy appears (see `KeyGuard`) it is deleted again.
 */
import { ClientClosedError, EtcdLeaseInvalidError, type Namespace } from 'etcd3';
import { isBrokenCircuitError } from 'cockatiel';
import { Emitter, type Event } from '../events';
import { NoEndpointAvailableError } from '../errors';
import type { Logger } from '../logger';
import type { ResolvedLeaseOptions } from './lease-options';
import { Backoff } from '../policy/backoff';
import { describeError } from '../policy/describe-error';
import { isPermanentError } from '../policy/permanent-error';
import { deadlineIn, runLimited } from './util';
import { Waker } from './waker';

/** Why a key was healed: someone else deleted it, or put another value or lease on it. */
export type KeyHealCause = 'deleted' | 'overwritten';

/** Why a key was written: first write, re-write after a lease loss, or heal. */
export type KeyWriteCause = 'attach' | 'restore' | 'heal';

/** A snapshot of one attached key. */
export interface LeasedKeyState {
  readonly key: string;
  readonly value: string;
  /** `present` while attached; `absent` while a detach's delete is pending. */
  readonly desired: 'present' | 'absent';
  /** Lease the current value is confirmed written under, or undefined. */
  readonly writtenLeaseId: string | undefined;
  /** etcd revision of our last successful put or delete of this key; 0 if none. */
  readonly revision: number;
  /** True while a deleted key is guarded against a late copy of one of our puts. */
  readonly tombstone: boolean;
  /** A put of ours that expected the key absent may still land (see the module comment). */
  readonly mayReappear: boolean;
}

/** A conditional write lost its compare twice in a row: the key keeps changing under us. */
class KeyContendedError extends Error {
  override readonly name = 'KeyContendedError';
}

/** What the keys need from their lease. */
export interface LeaseHost {
  /** Current lease id while alive, else undefined. */
  leaseId(): string | undefined;
  /** Changes on every grant, loss and close. */
  generation(): number;
  /** A write said the lease does not exist (called only if the generation did not change). */
  onLeaseInvalid(): void;
  /** Nothing left to write. */
  onSettled(): void;
  /** The client was closed under us: nothing can be written any more. */
  onClientClosed(): void;
}

interface Deferred {
  resolve(): void;
  reject(err: unknown): void;
}

interface Entry {
  readonly key: string;
  value: string;
  desired: 'present' | 'absent';
  writtenLease: string | undefined;
  revision: number;
  cause: 'attach' | 'restore';
  healCause: KeyHealCause | undefined;
  written: Deferred[];
  removed: Deferred[];
  /** Mod revision of the key as we last knew it (0 = absent); our txns compare it. */
  known: number;
  /** A put of ours expecting the key absent ended with an unknown outcome under the current lease. */
  ghost: boolean;
  /** The delete is done, but the key is still guarded (see {@link ghost}). */
  tombstone: boolean;
}

const settle = (list: Deferred[], err?: unknown) =>
  list.splice(0).forEach(d => (err === undefined ? d.resolve() : d.reject(err)));

/** Attached keys and their write loop. Internal to {@link DurableLease}. */
export class LeasedKeys {
  private readonly entries = new Map<string, Entry>();
  private readonly writtenEmitter = new Emitter<{
    key: string;
    leaseId: string;
    cause: KeyWriteCause;
  }>('keyWritten');
  private readonly healedEmitter = new Emitter<{
    key: string;
    leaseId: string;
    cause: KeyHealCause;
  }>('keyHealed');
  private readonly waker = new Waker();
  private readonly backoff: Backoff;
  private flushing = false;
  // Consecutive failed rounds; only the first of a streak is logged at warn.
  private failStreak = 0;
  // Set when new work arrived while the loop was running.
  private again = false;
  private closed = false;

  /** A key was written under the lease. */
  public readonly onWritten: Event<{ key: string; leaseId: string; cause: KeyWriteCause }> =
    this.writtenEmitter.event;
  /** A key deleted or overwritten by someone else was put back. */
  public readonly onHealed: Event<{ key: string; leaseId: string; cause: KeyHealCause }> =
    this.healedEmitter.event;

  constructor(
    private readonly client: Namespace,
    private readonly opts: ResolvedLeaseOptions,
    private readonly log: Logger,
    private readonly host: LeaseHost,
  ) {
    this.backoff = new Backoff(opts.backoff);
    this.writtenEmitter.setLogger(log);
    this.healedEmitter.setLogger(log);
  }

  get size(): number {
    let n = 0;
    for (const e of this.entries.values()) {
      n += e.tombstone ? 0 : 1;
    }
    return n;
  }

  attach(key: string, value: string): Promise<void> {
    let e = this.entries.get(key);
    if (!e) {
      e = {
        key,
        value,
        desired: 'present',
        writtenLease: undefined,
        revision: 0,
        cause: 'attach',
        healCause: undefined,
        written: [],
        removed: [],
        known: 0,
        ghost: false,
        tombstone: false,
      };
      this.entries.set(key, e);
    } else {
      settle(e.removed); // a pending detach is superseded
      if (e.desired === 'absent') {
        e.cause = 'attach';
      }
      if (e.desired === 'absent' || e.value !== value) {
        e.writtenLease = undefined;
      }
      e.desired = 'present';
      e.tombstone = false;
      e.value = value;
    }
    if (e.writtenLease !== undefined && e.writtenLease === this.host.leaseId()) {
      return Promise.resolve();
    }
    const entry = e;
    const done = new Promise<void>((resolve, reject) => entry.written.push({ resolve, reject }));
    this.kick();
    return done;
  }

  detach(key: string): Promise<void> {
    const e = this.entries.get(key);
    if (!e || this.closed || e.tombstone) {
      return Promise.resolve();
    }
    e.desired = 'absent';
    settle(e.written); // an attach that never completed is superseded
    const done = new Promise<void>((resolve, reject) => e.removed.push({ resolve, reject }));
    this.kick();
    return done;
  }

  heal(key: string, cause: KeyHealCause): void {
    const e = this.entries.get(key);
    if (e?.desired === 'present') {
      e.writtenLease = undefined;
      e.healCause = cause;
      this.kick();
    }
  }

  state(key: string): LeasedKeyState | undefined {
    const e = this.entries.get(key);
    return (
      e && {
        key,
        value: e.value,
        desired: e.desired,
        writtenLeaseId: e.writtenLease,
        revision: e.revision,
        tombstone: e.tombstone,
        mayReappear: e.ghost,
      }
    );
  }

  /**
   * A guarded (tombstoned) key reappeared under our lease at `modRevision`: a late
   * copy of one of our puts. Deletes it again (only if it is still that copy).
   */
  reappeared(key: string, modRevision: number): void {
    const e = this.entries.get(key);
    if (e?.tombstone && modRevision > e.revision) {
      e.tombstone = false;
      e.known = modRevision;
      this.log.warn({ key, modRevision }, 'a late copy of an earlier put reappeared; deleting it');
      this.kick();
    }
  }

  /** True when every attached key is written under the current lease. */
  allWritten(): boolean {
    const id = this.host.leaseId();
    for (const e of this.entries.values()) {
      if (e.desired === 'present' && (id === undefined || e.writtenLease !== id)) {
        return false;
      }
    }
    return true;
  }

  /** A new lease was granted: write every key under it. */
  rewriteAll(): void {
    this.kick();
  }

  /** The lease is gone, and with it every key written under it. */
  leaseGone(): void {
    for (const e of [...this.entries.values()]) {
      e.ghost = false; // a late copy under the dead lease fails: the lease is not found
      if (e.desired === 'absent') {
        this.entries.delete(e.key); // nobody renews the old lease: the key expires with it
        settle(e.removed);
      } else if (e.writtenLease !== undefined) {
        e.writtenLease = undefined;
        e.cause = 'restore';
      }
    }
  }

  /** Cuts a write backoff short (e.g. the connection is back). */
  wake(): void {
    this.waker.wake();
  }

  close(err: unknown): void {
    this.closed = true;
    for (const e of this.entries.values()) {
      settle(e.written, err);
      settle(e.removed);
    }
    this.entries.clear();
    this.waker.wake();
  }

  private kick(): void {
    if (this.flushing) {
      this.again = true;
      this.waker.wake();
      return;
    }
    void this.flush();
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (!this.closed) {
        this.again = false;
        const leaseId = this.host.leaseId();
        const gen = this.host.generation();
        const work = [...this.entries.values()].filter(
          e =>
            (e.desired === 'absent' && !e.tombstone) ||
            (e.desired === 'present' && leaseId !== undefined && e.writtenLease !== leaseId),
        );
        if (work.length === 0) {
          this.host.onSettled();
          if (this.again) {
            continue;
          }
          return;
        }
        const failures = await runLimited(work, this.opts.writeConcurrency, e =>
          this.write(e, leaseId, gen),
        );
        if (failures.length === 0) {
          this.backoff.reset();
          this.failStreak = 0;
          continue;
        }
        if (gen !== this.host.generation()) {
          continue; // the lease changed under us: retry at once under the new one
        }
        if (failures.some(f => f.error instanceof EtcdLeaseInvalidError)) {
          this.host.onLeaseInvalid();
          continue;
        }
        if (failures.some(f => f.error instanceof ClientClosedError)) {
          this.host.onClientClosed();
          return;
        }
        const permanent = failures.filter(f => isPermanentError(f.error));
        for (const { item: e, error } of permanent) {
          // Retrying cannot help (no permission, bad request): give the key up and say why.
          this.log.error(
            { key: e.key, err: describeError(error) },
            'key write refused by etcd; giving up on this key',
          );
          if (this.entries.get(e.key) === e) {
            this.entries.delete(e.key);
          }
          settle(e.written, error);
          settle(e.removed, error);
        }
        if (permanent.length === failures.length) {
          continue;
        }
        const delayMs = this.backoff.next();
        this.log[this.failStreak++ === 0 ? 'warn' : 'debug'](
          {
            failed: failures.length,
            of: work.length,
            err: describeError(failures[0]?.error),
            delayMs,
          },
          'key writes failed; retrying',
        );
        if (!this.again) {
          await this.waker.sleep(delayMs);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async write(e: Entry, leaseId: string | undefined, gen: number): Promise<void> {
    // One call per attempt, never cut short and resent (no retryWrites): a copy cut
    // off on a slow member could land after a later delete.
    for (let attempt = 0; ; attempt++) {
      const done = await (e.desired === 'absent'
        ? this.deleteOnce(e, leaseId)
        : this.putOnce(e, leaseId as string, gen));
      if (done) {
        return;
      }
      if (attempt > 0) {
        throw new KeyContendedError(`key ${e.key} changed during two conditional writes in a row`);
      }
    }
  }

  /** One conditional delete; false if the compare failed (then `known` is updated). */
  private async deleteOnce(e: Entry, leaseId: string | undefined): Promise<boolean> {
    const res = await this.client
      .if(e.key, 'Mod', '==', e.known)
      .then(this.client.delete().key(e.key))
      .else(this.client.get(e.key))
      .options(deadlineIn(this.opts.callTimeoutMs))
      .commit();
    const revision = Number(res.header?.revision ?? 0);
    if (!res.succeeded) {
      const kv = res.responses?.[0]?.response_range?.kvs?.[0];
      if (kv && leaseId !== undefined && String(kv.lease) === leaseId) {
        e.known = Number(kv.mod_revision); // ours (a late copy, or a write we lost track of)
        return false;
      }
      // Absent, or someone else's record now: nothing of ours left to delete.
    }
    e.known = 0;
    e.revision = Math.max(e.revision, revision);
    if (e.desired === 'absent' && this.entries.get(e.key) === e) {
      settle(e.removed);
      if (e.ghost && leaseId !== undefined) {
        e.tombstone = true; // guarded until the lease ends
      } else {
        this.entries.delete(e.key);
      }
      this.log.debug({ key: e.key, tombstone: e.tombstone }, 'key deleted');
    }
    return true;
  }

  /** One conditional put; false if the compare failed (then `known` is updated). */
  private async putOnce(e: Entry, leaseId: string, gen: number): Promise<boolean> {
    const value = e.value;
    const expected = e.known;
    let res;
    try {
      res = await this.client
        .if(e.key, 'Mod', '==', expected)
        .then(this.client.put(e.key).value(value).lease(leaseId))
        .else(this.client.get(e.key))
        .options(deadlineIn(this.opts.callTimeoutMs))
        .commit();
    } catch (err) {
      if (expected === 0 && gen === this.host.generation() && !isKnownOutcome(err)) {
        e.ghost = true; // it may still land later, while the key is absent
      }
      throw err;
    }
    if (!res.succeeded) {
      const kv = res.responses?.[0]?.response_range?.kvs?.[0];
      e.known = kv ? Number(kv.mod_revision) : 0;
      return false;
    }
    const revision = Number(res.header?.revision ?? 0);
    e.known = revision;
    e.revision = Math.max(e.revision, revision);
    if (
      gen !== this.host.generation() ||
      this.entries.get(e.key) !== e ||
      e.desired !== 'present' ||
      e.value !== value
    ) {
      return true; // superseded while in flight; the loop looks again
    }
    e.writtenLease = leaseId;
    const healCause = e.healCause;
    const cause: KeyWriteCause = healCause ? 'heal' : e.cause;
    e.healCause = undefined;
    e.cause = 'restore';
    settle(e.written);
    this.log.debug({ key: e.key, leaseId, cause }, 'key written');
    this.writtenEmitter.emit({ key: e.key, leaseId: leaseId as string, cause });
    if (healCause) {
      this.log.warn(
        { key: e.key, leaseId, cause: healCause },
        'key was changed by someone else; put it back',
      );
      this.healedEmitter.emit({ key: e.key, leaseId: leaseId as string, cause: healCause });
    }
    return true;
  }
}

/**
 * True when a failed write is known not to have been applied and never to be: etcd
 * answered (lease not found, permission denied...) or it was refused before it was
 * sent (client closed, every breaker open). Anything else may still land.
 */
function isKnownOutcome(err: unknown): boolean {
  return (
    err instanceof EtcdLeaseInvalidError ||
    err instanceof ClientClosedError ||
    err instanceof NoEndpointAvailableError ||
    isBrokenCircuitError(err) ||
    isPermanentError(err)
  );
}
