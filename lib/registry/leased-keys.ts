/**
 * The keys attached to a {@link DurableLease}: what each should look like in etcd
 * and one loop that makes it so (puts under the current lease, deletes of
 * detached keys), with bounded concurrency and jittered backoff on failure.
 */
import { retryWrites } from '../pool/call-kind';
import { ClientClosedError, EtcdLeaseInvalidError, type Namespace } from 'etcd3';
import { Emitter, type Event } from '../events';
import type { Logger } from '../logger';
import type { ResolvedLeaseOptions } from './lease-options';
import { Backoff } from '../policy/backoff';
import { describeError } from '../policy/describe-error';
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
    return this.entries.size;
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
    if (!e || this.closed) {
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
      }
    );
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
          e => e.desired === 'absent' || (leaseId !== undefined && e.writtenLease !== leaseId),
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
    // Re-putting our own value under our lease, or deleting our key again, is harmless.
    const options = retryWrites(deadlineIn(this.opts.callTimeoutMs));
    if (e.desired === 'absent') {
      const res = await this.client.delete().key(e.key).options(options).exec();
      e.revision = Math.max(e.revision, Number(res.header.revision));
      if (e.desired === 'absent' && this.entries.get(e.key) === e) {
        this.entries.delete(e.key);
        settle(e.removed);
        this.log.debug({ key: e.key }, 'key deleted');
      }
      return;
    }
    const value = e.value;
    const res = await this.client
      .put(e.key)
      .value(value)
      .lease(leaseId as string)
      .options(options)
      .exec();
    e.revision = Math.max(e.revision, Number(res.header.revision));
    if (
      gen !== this.host.generation() ||
      this.entries.get(e.key) !== e ||
      e.desired !== 'present' ||
      e.value !== value
    ) {
      return; // superseded while in flight; the loop looks again
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
  }
}
