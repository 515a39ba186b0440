/**
 * An in-memory stand-in for the slice of etcd3's `Namespace` the registry uses
 * (lease grant/keepalive stream/time-to-live/revoke, put, delete, get, key
 * watch), with a server-side lease clock and a switchable network:
 * `ok`, `silent` (requests vanish: calls hang until their deadline, keepalives
 * get no reply) or `refused` (calls fail at once with UNAVAILABLE). Works under
 * vitest fake timers. Unit tests only; integration tests use real etcd.
 */
import { EventEmitter } from 'node:events';
import { EventEmitter as CockatielEmitter } from 'cockatiel';
import {
  ClientClosedError,
  EtcdLeaseInvalidError,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  type Namespace,
} from 'etcd3';

export type Network = 'ok' | 'silent' | 'refused';

type TxnOp =
  | { type: 'put'; key: string; value: string; lease: string }
  | { type: 'delete'; key: string }
  | { type: 'range'; key: string };

interface Kv {
  value: string;
  lease: string;
  mod_revision: number;
}
interface ServerLease {
  ttl: number;
  timer: NodeJS.Timeout;
}

export class FakeStream extends EventEmitter {
  public ended = false;
  public cancelled = false;
  constructor(private readonly server: FakeEtcd) {
    super();
  }
  write(req: { ID: string }): void {
    this.server.keepalivesSent++;
    if (this.ended || this.server.network !== 'ok') {
      return; // vanishes
    }
    const ttl = this.server.renew(req.ID);
    setTimeout(() => !this.ended && this.emit('data', { ID: req.ID, TTL: String(ttl) }), 1);
  }
  end(): void {
    this.ended = true;
  }
  cancel(): void {
    this.ended = this.cancelled = true;
    setTimeout(
      () =>
        this.emit(
          'error',
          Object.assign(new Error('1 CANCELLED: Cancelled on client'), { code: 1 }),
        ),
      0,
    );
  }
}

export class FakeEtcd {
  public network: Network = 'ok';
  /** As after `client.close()`: every call fails with etcd3's ClientClosedError. */
  public clientClosed = false;
  public readonly kv = new Map<string, Kv>();
  public readonly leases = new Map<string, ServerLease>();
  public revision = 1;
  public grants = 0;
  public streamsOpened = 0;
  public keepalivesSent = 0;
  /** Next grant calls fail with this many UNAVAILABLE errors first. */
  public failGrants = 0;
  /**
   * While set, txns are held: the call fails with DEADLINE_EXCEEDED at its deadline
   * (outcome unknown to the client) and the txn is applied later by {@link releaseHeld},
   * as a slow member applies a request that the client already gave up on.
   */
  public holdTxns = false;
  private readonly held: Array<() => void> = [];
  /** If set, every write fails with this error (e.g. EtcdPermissionDeniedError). */
  public writeError: Error | undefined;
  /** If set, every lease grant fails with this error. */
  public grantError: Error | undefined;
  /** Txns committed so far. */
  public txns = 0;
  /** Call options of the last txn. */
  public lastTxnOptions: object | undefined;

  /** Applies every held txn now, in order. */
  releaseHeld(): void {
    for (const apply of this.held.splice(0)) {
      apply();
    }
  }

  /** TTL the server grants instead of the requested one (etcd's minimum), if set. */
  public grantTtlOverride: number | undefined;
  /** Emits what our client's `onStateChange` would (the fake exposes it like our `Etcd3`). */
  public readonly channelEvents = new CockatielEmitter<{
    endpoint: string;
    from: string;
    to: string;
  }>();
  private nextLease = 1000;
  private readonly watchers = new Set<{ key: string; w: EventEmitter }>();

  /** The fake, typed as the etcd3 `Namespace` the registry takes. */
  get client(): Namespace {
    return this.api as unknown as Namespace;
  }

  /** Server-side: expire/revoke `id` now (deletes its keys, as etcd does). */
  dropLease(id: string): void {
    const l = this.leases.get(id);
    if (!l) {
      return;
    }
    clearTimeout(l.timer);
    this.leases.delete(id);
    for (const [key, kv] of [...this.kv]) {
      if (kv.lease === id) {
        this.deleteKey(key);
      }
    }
  }

  /** Another client writes `key` (no lease). */
  foreignPut(key: string, value: string): void {
    this.putKey(key, value, '0');
  }

  /** Another client deletes `key`. */
  foreignDelete(key: string): void {
    this.deleteKey(key);
  }

  renew(id: string): number {
    const l = this.leases.get(id);
    if (!l) {
      return 0;
    }
    clearTimeout(l.timer);
    l.timer = this.expiryTimer(id, l.ttl);
    return l.ttl;
  }

  /** Watchers currently open. */
  get watcherCount(): number {
    return this.watchers.size;
  }

  /** Makes every open watcher fail as etcd3 does on compaction/cancel. */
  failWatchers(): void {
    for (const { w } of this.watchers) {
      w.emit('error', new Error('mvcc: required revision has been compacted'));
    }
  }

  private expiryTimer(id: string, ttl: number): NodeJS.Timeout {
    return setTimeout(() => this.dropLease(id), ttl * 1000);
  }

  private putKey(key: string, value: string, lease: string): number {
    const rev = ++this.revision;
    this.kv.set(key, { value, lease, mod_revision: rev });
    this.notify(key, 'put', {
      key: Buffer.from(key),
      value: Buffer.from(value),
      lease,
      mod_revision: String(rev),
    });
    return rev;
  }

  private deleteKey(key: string): number {
    const rev = ++this.revision;
    if (this.kv.delete(key)) {
      this.notify(key, 'delete', {
        key: Buffer.from(key),
        value: Buffer.alloc(0),
        lease: '0',
        mod_revision: String(rev),
      });
    }
    return rev;
  }

  private notify(key: string, event: string, kv: object): void {
    for (const { key: k, w } of this.watchers) {
      if (k === key) {
        setTimeout(() => w.emit(event, kv), 0);
      }
    }
  }

  /** Runs `fn` as a unary call subject to the network and the call's deadline. */
  private call<T>(options: { deadline?: number } | undefined, fn: () => T): Promise<T> {
    if (this.clientClosed) {
      return Promise.reject(new ClientClosedError('Lease'));
    }
    if (this.network === 'refused') {
      return Promise.reject(new GRPCUnavailableError('14 UNAVAILABLE: connect ECONNREFUSED'));
    }
    if (this.network === 'silent') {
      const wait = Math.max(0, Number(options?.deadline ?? Date.now() + 60_000) - Date.now());
      return new Promise((_, reject) =>
        setTimeout(
          () => reject(new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded')),
          wait,
        ),
      );
    }
    return new Promise((resolve, reject) =>
      setTimeout(() => {
        try {
          resolve(fn());
        } catch (err) {
          reject(err);
        }
      }, 1),
    );
  }

  /** A write applied only at {@link releaseHeld}; the call fails at its deadline. */
  private hold(options: { deadline?: number } | undefined, apply: () => unknown): Promise<never> {
    this.held.push(() => {
      try {
        apply();
      } catch {
        // a late copy under a dead lease fails on the server; nobody hears of it
      }
    });
    const wait = Math.max(0, Number(options?.deadline ?? Date.now() + 60_000) - Date.now());
    return new Promise((_, reject) =>
      setTimeout(
        () => reject(new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded')),
        wait,
      ),
    );
  }

  /** Applies one txn; returns etcd's response shape. */
  private applyTxn(
    cmp: { key: string; column: string; op: string; value: number },
    then: TxnOp[],
    otherwise: TxnOp[],
  ): unknown {
    const kv = this.kv.get(cmp.key);
    const actual =
      cmp.column === 'Mod'
        ? (kv?.mod_revision ?? 0)
        : cmp.column === 'Lease'
          ? Number(kv?.lease ?? 0)
          : NaN;
    const ok = cmp.op === '==' ? actual === Number(cmp.value) : false;
    const ops = ok ? then : otherwise;
    const responses = ops.map(op => {
      if (op.type === 'put') {
        if (!this.leases.has(op.lease)) {
          throw new EtcdLeaseInvalidError(op.lease);
        }
        this.putKey(op.key, op.value, op.lease);
        return { response_put: {} };
      }
      if (op.type === 'delete') {
        this.deleteKey(op.key);
        return { response_delete_range: {} };
      }
      const cur = this.kv.get(op.key);
      return {
        response_range: {
          kvs: cur
            ? [
                {
                  key: Buffer.from(op.key),
                  value: Buffer.from(cur.value),
                  lease: cur.lease,
                  mod_revision: String(cur.mod_revision),
                },
              ]
            : [],
        },
      };
    });
    return { succeeded: ok, header: { revision: String(this.revision) }, responses };
  }

  private readonly api = {
    onStateChange: this.channelEvents.addListener,
    if: (key: string, column: string, op: string, value: number) => {
      const b = {
        then: [] as TxnOp[],
        else: [] as TxnOp[],
        opts: undefined as { deadline?: number } | undefined,
      };
      const builder = {
        then: (...ops: Array<{ txnOp(): TxnOp }>) => ((b.then = ops.map(o => o.txnOp())), builder),
        else: (...ops: Array<{ txnOp(): TxnOp }>) => ((b.else = ops.map(o => o.txnOp())), builder),
        options: (o: { deadline?: number }) => ((b.opts = o), builder),
        commit: () => {
          this.txns++;
          this.lastTxnOptions = b.opts;
          if (this.writeError && b.then.some(o => o.type !== 'range')) {
            return this.call(b.opts, () => {
              throw this.writeError;
            });
          }
          const apply = () => this.applyTxn({ key, column, op, value }, b.then, b.else);
          return this.holdTxns && this.network === 'ok'
            ? this.hold(b.opts, apply)
            : this.call(b.opts, apply);
        },
      };
      return builder;
    },
    leaseClient: {
      leaseGrant: (req: { TTL: number }, options?: { deadline?: number }) =>
        this.call(options, () => {
          if (this.grantError) {
            throw this.grantError;
          }
          if (this.failGrants > 0) {
            this.failGrants--;
            throw new GRPCUnavailableError('14 UNAVAILABLE: injected');
          }
          this.grants++;
          const id = String(this.nextLease++);
          const ttl = this.grantTtlOverride ?? req.TTL;
          this.leases.set(id, { ttl, timer: this.expiryTimer(id, ttl) });
          return { ID: id, TTL: String(ttl), header: { revision: String(this.revision) } };
        }),
      leaseKeepAlive: () => {
        this.streamsOpened++;
        return Promise.resolve(new FakeStream(this));
      },
      leaseTimeToLive: (req: { ID: string }, options?: { deadline?: number }) =>
        this.call(options, () => ({ ID: req.ID, TTL: this.leases.has(req.ID) ? '1' : '-1' })),
      leaseRevoke: (req: { ID: string }, options?: { deadline?: number }) =>
        this.call(options, () => {
          if (!this.leases.has(req.ID)) {
            throw new EtcdLeaseInvalidError(req.ID);
          }
          this.dropLease(req.ID);
          return {};
        }),
    },
    put: (key: string) => {
      const b = { v: '', lease: '0', opts: undefined as { deadline?: number } | undefined };
      const builder = {
        value: (v: string) => ((b.v = v), builder),
        lease: (id: string) => ((b.lease = id), builder),
        options: (o: { deadline?: number }) => ((b.opts = o), builder),
        txnOp: (): TxnOp => ({ type: 'put', key, value: b.v, lease: b.lease }),
        exec: () => {
          const apply = () => {
            if (this.writeError) {
              throw this.writeError;
            }
            if (!this.leases.has(b.lease)) {
              throw new EtcdLeaseInvalidError(b.lease);
            }
            return { header: { revision: String(this.putKey(key, b.v, b.lease)) } };
          };
          this.lastTxnOptions = b.opts;
          return this.holdTxns && this.network === 'ok'
            ? this.hold(b.opts, apply)
            : this.call(b.opts, apply);
        },
      };
      return builder;
    },
    delete: () => {
      const b = { key: '', opts: undefined as { deadline?: number } | undefined };
      const builder = {
        key: (k: string) => ((b.key = k), builder),
        options: (o: { deadline?: number }) => ((b.opts = o), builder),
        txnOp: (): TxnOp => ({ type: 'delete', key: b.key }),
        exec: () =>
          this.call(b.opts, () => ({ header: { revision: String(this.deleteKey(b.key)) } })),
      };
      return builder;
    },
    get: (key: string) => ({
      txnOp: (): TxnOp => ({ type: 'range', key }),
      exec: () =>
        this.call(undefined, () => {
          const kv = this.kv.get(key);
          return {
            header: { revision: String(this.revision) },
            kvs: kv
              ? [
                  {
                    key: Buffer.from(key),
                    value: Buffer.from(kv.value),
                    lease: kv.lease,
                    mod_revision: String(kv.mod_revision),
                  },
                ]
              : [],
          };
        }),
    }),
    watch: () => ({
      key: (key: string) => ({
        create: () =>
          this.call(undefined, () => {
            const w = new EventEmitter() as EventEmitter & { cancel(): Promise<void> };
            const entry = { key, w };
            w.cancel = () => {
              this.watchers.delete(entry);
              return Promise.resolve();
            };
            this.watchers.add(entry);
            return w;
          }),
      }),
    }),
  };
}
