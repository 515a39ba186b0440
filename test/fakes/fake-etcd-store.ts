/**
 * The one in-memory etcd for unit tests of the layers above the pool (watch hub,
 * discovery, the `etcd:` resolver, the registry and its key guard). It stands in
 * for the slice of etcd3's `Namespace` those layers use:
 *
 * - an MVCC key space with full history and compaction, paged range reads at a
 *   revision (`getAll().inRange().limit().revision()`), `get`, `put`, `delete`
 *   and conditional txns (`if(key, 'Mod' | 'Lease', '==', n).then().else()`);
 * - leases with a server-side clock (grant, keepalive stream, time-to-live,
 *   revoke); an expired lease deletes its keys, as etcd does;
 * - Watch streams opened on a fake connection pool (`pool.withConnection`, as the
 *   watch hub opens them): `created` answers in request order, replay from a
 *   start revision, compaction cancels, progress answers with watch id -1.
 *
 * Faults the tests inject: a switchable network for unary calls (`ok`, `silent`:
 * calls hang until their deadline and keepalives get no reply, `refused`: calls
 * fail at once with UNAVAILABLE), a closed client, held writes that land late
 * ({@link FakeEtcdStore.holdTxns}), write and grant errors, failed lists and
 * stream opens, broken or stalled streams, cancelled watches, and replays of
 * already-sent events after a reconnect (a buggy server).
 *
 * Works with real timers and under vitest fake timers. The wire-level fake (a real
 * gRPC server) is `test/fakes/fake-etcd.ts`; integration tests use real etcd.
 */
import { EventEmitter } from 'node:events';
import { Metadata } from '@grpc/grpc-js';
import { EventEmitter as CockatielEmitter } from 'cockatiel';
import {
  ClientClosedError,
  EtcdLeaseInvalidError,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  type Namespace,
} from 'etcd3';

/** How unary calls (and new streams) fare. */
export type Network = 'ok' | 'silent' | 'refused';

/** One change in the key space's history. */
export interface Change {
  rev: number;
  type: 'PUT' | 'DELETE';
  key: string;
  value: string;
  /** Lease id of a put, `'0'` for none. */
  lease: string;
}

/** A live key. */
export interface Kv {
  value: string;
  lease: string;
  mod_revision: number;
}

type TxnOp =
  | { type: 'put'; key: string; value: string; lease: string }
  | { type: 'delete'; key: string }
  | { type: 'range'; key: string };

interface ServerLease {
  ttl: number;
  timer: NodeJS.Timeout;
}

interface ServerWatch {
  id: string;
  key: string;
  end: string;
  /** Next revision this watch must deliver. */
  next: number;
}

type CallOpts = { deadline?: number } | undefined;

const inRange = (key: string, start: string, end: string) =>
  key >= start && (end === '\0' || key < end);
const header = (rev: number) => ({
  revision: String(rev),
  cluster_id: '1',
  member_id: '1',
  raft_term: '1',
});
const deadlineExceeded = () =>
  new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded');
const waitFor = (options: CallOpts) =>
  Math.max(0, Number(options?.deadline ?? Date.now() + 60_000) - Date.now());

/** A Watch stream as etcd serves it. */
export class FakeWatchStream extends EventEmitter {
  readonly watches = new Map<string, ServerWatch>();
  readonly written: any[] = [];
  /** gRPC metadata the stream was opened with. */
  metadata: Metadata | undefined;
  /** While true, the stream accepts writes but sends nothing back (a stalled stream). */
  stalled = false;
  cancelled = false;
  private nextId = 0;

  constructor(private readonly etcd: FakeEtcdStore) {
    super();
  }

  write(req: any): boolean {
    this.written.push(req);
    if (this.cancelled || this.stalled) {
      return true;
    }
    if (req.create_request) {
      const c = req.create_request;
      const start =
        c.start_revision !== undefined ? Number(c.start_revision) : this.etcd.revision + 1;
      const w: ServerWatch = {
        id: String(this.nextId++),
        key: c.key.toString(),
        end: c.range_end.toString(),
        next: start,
      };
      this.send({
        created: true,
        canceled: false,
        watch_id: w.id,
        events: [],
        compact_revision: '0',
        header: header(this.etcd.revision),
      });
      if (start < this.etcd.compacted) {
        this.send({
          created: false,
          canceled: true,
          watch_id: w.id,
          events: [],
          compact_revision: String(this.etcd.compacted),
          cancel_reason: '',
          header: header(this.etcd.revision),
        });
        return true;
      }
      this.watches.set(w.id, w);
      this.catchUp(w, this.etcd.replayOnCreate);
    } else if (req.cancel_request) {
      const id = String(req.cancel_request.watch_id);
      if (this.watches.delete(id)) {
        this.send(this.canceled(id, '0', ''));
      }
    } else if (req.progress_request) {
      this.send({
        created: false,
        canceled: false,
        watch_id: '-1',
        events: [],
        compact_revision: '0',
        header: header(this.etcd.revision),
      });
    }
    return true;
  }

  cancel(): void {
    if (!this.cancelled) {
      this.cancelled = true;
      this.etcd.streams.delete(this);
      queueMicrotask(() =>
        this.emit(
          'error',
          Object.assign(new Error('1 CANCELLED: Cancelled on client'), { code: 1 }),
        ),
      );
    }
  }

  /** Breaks the stream from the server side with `err`. */
  fail(
    err: Error = Object.assign(new Error('14 UNAVAILABLE: connection reset'), { code: 14 }),
  ): void {
    this.cancelled = true;
    this.etcd.streams.delete(this);
    queueMicrotask(() => this.emit('error', err));
  }

  /** Sends pending events to `w` (etcd's notify), `replay` extra old revisions first. */
  catchUp(w: ServerWatch, replay = 0): void {
    if (this.cancelled || this.stalled) {
      return;
    }
    const from = Math.max(this.etcd.compacted, w.next - replay);
    const events = this.etcd.history
      .filter(c => c.rev >= from && inRange(c.key, w.key, w.end))
      .map(c => ({
        type: c.type,
        kv: {
          key: Buffer.from(c.key),
          value: Buffer.from(c.value),
          mod_revision: String(c.rev),
          create_revision: '0',
          version: '1',
          lease: c.lease,
        },
      }));
    w.next = this.etcd.revision + 1;
    if (events.length > 0) {
      this.send({
        created: false,
        canceled: false,
        watch_id: w.id,
        events,
        compact_revision: '0',
        header: header(this.etcd.revision),
      });
    }
  }

  /** A per-watch progress notification for every watch. */
  notifyProgress(): void {
    for (const w of this.watches.values()) {
      this.send({
        created: false,
        canceled: false,
        watch_id: w.id,
        events: [],
        compact_revision: '0',
        header: header(this.etcd.revision),
      });
    }
  }

  /** The server cancels every watch of this stream (compaction with `compactRevision` > 0, else an error). */
  cancelWatches(compactRevision: number, reason: string): void {
    for (const id of [...this.watches.keys()]) {
      this.watches.delete(id);
      this.emit('data', this.canceled(id, String(compactRevision), reason));
    }
  }

  private canceled(id: string, compactRevision: string, reason: string): object {
    return {
      created: false,
      canceled: true,
      watch_id: id,
      events: [],
      compact_revision: compactRevision,
      cancel_reason: reason,
      header: header(this.etcd.revision),
    };
  }

  private send(res: any): void {
    queueMicrotask(() => {
      if (!this.cancelled && !this.stalled) {
        this.emit('data', res);
      }
    });
  }
}

/** A lease keepalive stream: each write renews the lease and is answered 1 ms later. */
export class FakeKeepaliveStream extends EventEmitter {
  public ended = false;
  public cancelled = false;

  constructor(private readonly etcd: FakeEtcdStore) {
    super();
  }

  write(req: { ID: string }): void {
    this.etcd.keepalivesSent++;
    if (this.ended || this.etcd.network !== 'ok') {
      return; // vanishes
    }
    const ttl = this.etcd.renew(req.ID);
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

export class FakeEtcdStore {
  // --- key space -----------------------------------------------------------
  revision = 1;
  compacted = 0;
  readonly history: Change[] = [];
  /** The live keys (kept in step with {@link history}). */
  readonly kv = new Map<string, Kv>();

  // --- faults --------------------------------------------------------------
  /** Unary calls: `ok`, `silent` (hang until the deadline) or `refused` (UNAVAILABLE at once). */
  network: Network = 'ok';
  /** As after `client.close()`: every unary call fails with etcd3's ClientClosedError. */
  clientClosed = false;
  /**
   * While set, writes are held: the call fails with DEADLINE_EXCEEDED at its deadline
   * (outcome unknown to the client) and the write is applied later by {@link releaseHeld},
   * as a slow member applies a request that the client already gave up on.
   */
  holdTxns = false;
  /** If set, every write fails with this error (e.g. EtcdPermissionDeniedError). */
  writeError: Error | undefined;
  /** If set, every lease grant fails with this error. */
  grantError: Error | undefined;
  /** The next this-many grants fail with UNAVAILABLE. */
  failGrants = 0;
  /** TTL the server grants instead of the requested one (etcd's minimum), if set. */
  grantTtlOverride: number | undefined;
  /** The next this-many list (range) calls fail. */
  failLists = 0;
  /** When set, every list call fails with this error (e.g. etcd3's ClientClosedError). */
  listError: Error | undefined;
  /** While set, `get` calls hang until their deadline (a read lost on the way), whatever {@link network} says. */
  silentReads = false;
  /** The next this-many Watch stream opens fail. */
  failOpens = 0;
  /** Old revisions a new watch re-sends before its start revision (a buggy server). */
  replayOnCreate = 0;

  // --- leases --------------------------------------------------------------
  readonly leases = new Map<string, ServerLease>();
  grants = 0;
  /** Lease keepalive streams opened. */
  keepaliveStreams = 0;
  keepalivesSent = 0;

  // --- records -------------------------------------------------------------
  /** Txns committed so far. */
  txns = 0;
  /** Call options of the last txn or put. */
  lastTxnOptions: object | undefined;
  /** Range reads served (`getAll()` pages and `get`). */
  rangeCalls = 0;
  /** Open Watch streams. */
  readonly streams = new Set<FakeWatchStream>();
  /** Every Watch stream ever opened. */
  readonly opened: FakeWatchStream[] = [];
  /** Errors reported to the pool's `markFailed`. */
  readonly markFailed: Array<{ code?: number; message: string }> = [];
  /** Emits what our client's `onStateChange` would (the fake exposes it like our `Etcd3`). */
  readonly channelEvents = new CockatielEmitter<{ endpoint: string; from: string; to: string }>();

  private readonly held: Array<() => void> = [];
  private nextLease = 1000;
  private api: object | undefined;

  /** The fake as the etcd3 `Namespace` the library takes (one object, one pool, per fake). */
  get client(): Namespace & { pool: any } {
    this.api ??= this.makeApi();
    return this.api as Namespace & { pool: any };
  }

  // --- what other clients do -----------------------------------------------

  /** Another client writes `key` (no lease unless given). */
  put(key: string, value: string, lease = '0'): number {
    return this.commit([{ type: 'PUT', key, value, lease }]);
  }

  /** Another client deletes `key` (recorded even if it does not exist). */
  delete(key: string): number {
    return this.commit([{ type: 'DELETE', key, value: '' }]);
  }

  /** Applies several changes at one revision (a transaction) and notifies watches. */
  commit(changes: Array<Omit<Change, 'rev' | 'lease'> & { lease?: string }>): number {
    const rev = ++this.revision;
    for (const c of changes) {
      const lease = c.lease ?? '0';
      this.history.push({ ...c, lease, rev });
      if (c.type === 'PUT') {
        this.kv.set(c.key, { value: c.value, lease, mod_revision: rev });
      } else {
        this.kv.delete(c.key);
      }
    }
    for (const s of this.streams) {
      for (const w of s.watches.values()) {
        s.catchUp(w);
      }
    }
    return rev;
  }

  /** Compacts history below `rev`; watches that still need it are cancelled, as etcd does. */
  compact(rev = this.revision): void {
    this.compacted = rev;
    for (const s of this.streams) {
      for (const w of [...s.watches.values()]) {
        if (w.next < rev) {
          s.watches.delete(w.id);
          s.emit('data', {
            created: false,
            canceled: true,
            watch_id: w.id,
            events: [],
            compact_revision: String(rev),
            header: header(this.revision),
          });
        }
      }
    }
  }

  /** The key space at `rev`. */
  stateAt(rev = this.revision): Map<string, { value: string; mod: number; lease: string }> {
    const state = new Map<string, { value: string; mod: number; lease: string }>();
    for (const c of this.history) {
      if (c.rev > rev) break;
      if (c.type === 'PUT') state.set(c.key, { value: c.value, mod: c.rev, lease: c.lease });
      else state.delete(c.key);
    }
    return state;
  }

  /** Watches currently created on open streams. */
  get watcherCount(): number {
    let n = 0;
    for (const s of this.streams) {
      n += s.watches.size;
    }
    return n;
  }

  /** The server cancels every watch (as etcd does on an error); their owners must re-create them. */
  failWatchers(): void {
    for (const s of this.streams) {
      s.cancelWatches(0, 'fake: watch cancelled by the server');
    }
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

  /** Renews `id` (a keepalive arrived); returns its TTL, 0 if it does not exist. */
  renew(id: string): number {
    const l = this.leases.get(id);
    if (!l) {
      return 0;
    }
    clearTimeout(l.timer);
    l.timer = this.expiryTimer(id, l.ttl);
    return l.ttl;
  }

  /** Applies every held write now, in order. */
  releaseHeld(): void {
    for (const apply of this.held.splice(0)) {
      apply();
    }
  }

  // --- internals -------------------------------------------------------------

  private expiryTimer(id: string, ttl: number): NodeJS.Timeout {
    return setTimeout(() => this.dropLease(id), ttl * 1000);
  }

  private putKey(key: string, value: string, lease: string): number {
    return this.commit([{ type: 'PUT', key, value, lease }]);
  }

  /** Deletes `key`; a missing key only moves the revision on (no event). */
  private deleteKey(key: string): number {
    return this.kv.has(key) ? this.commit([{ type: 'DELETE', key, value: '' }]) : ++this.revision;
  }

  /** Runs `fn` as a unary call subject to the network and the call's deadline. */
  private call<T>(options: CallOpts, fn: () => T, network = this.network): Promise<T> {
    if (this.clientClosed) {
      return Promise.reject(new ClientClosedError('Lease'));
    }
    if (network === 'refused') {
      return Promise.reject(new GRPCUnavailableError('14 UNAVAILABLE: connect ECONNREFUSED'));
    }
    if (network === 'silent') {
      return new Promise((_, reject) =>
        setTimeout(() => reject(deadlineExceeded()), waitFor(options)),
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
  private hold(options: CallOpts, apply: () => unknown): Promise<never> {
    this.held.push(() => {
      try {
        apply();
      } catch {
        // a late copy under a dead lease fails on the server; nobody hears of it
      }
    });
    return new Promise((_, reject) =>
      setTimeout(() => reject(deadlineExceeded()), waitFor(options)),
    );
  }

  /** A write: held, failed with {@link writeError}, or applied as a unary call. */
  private write<T>(options: CallOpts, apply: () => T): Promise<T> {
    if (this.writeError) {
      const err = this.writeError;
      return this.call(options, () => {
        throw err;
      });
    }
    return this.holdTxns && this.network === 'ok'
      ? this.hold(options, apply)
      : this.call(options, apply);
  }

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
    const responses = (ok ? then : otherwise).map(op => {
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
      return { response_range: { kvs: this.kvsOf(op.key) } };
    });
    return { succeeded: ok, header: { revision: String(this.revision) }, responses };
  }

  private kvsOf(key: string): object[] {
    const kv = this.kv.get(key);
    return kv
      ? [
          {
            key: Buffer.from(key),
            value: Buffer.from(kv.value),
            lease: kv.lease,
            mod_revision: String(kv.mod_revision),
          },
        ]
      : [];
  }

  private makeApi(): object {
    const etcd = this;
    const pool = {
      callOptionsFactory: undefined,
      async withConnection(_service: string, fn: (args: any) => any) {
        await Promise.resolve();
        if (etcd.failOpens > 0) {
          etcd.failOpens--;
          throw Object.assign(new Error('14 UNAVAILABLE: no connection'), { code: 14 });
        }
        if (etcd.network === 'refused') {
          throw new GRPCUnavailableError('14 UNAVAILABLE: connect ECONNREFUSED');
        }
        const stream = new FakeWatchStream(etcd);
        stream.stalled = etcd.network === 'silent';
        const grpcClient = {
          watch: (md: Metadata) => {
            stream.metadata = md;
            etcd.streams.add(stream);
            etcd.opened.push(stream);
            return stream;
          },
        };
        return fn({ resource: 'host', client: grpcClient, metadata: new Metadata() });
      },
      markFailed(_resource: unknown, err: Error & { code?: number }) {
        etcd.markFailed.push({ code: err.code, message: err.message });
      },
    };
    return {
      pool,
      prefix: Buffer.alloc(0),
      onStateChange: this.channelEvents.addListener,
      getAll: () => new FakeRange(etcd),
      if: (key: string, column: string, op: string, value: number) => {
        const b = { then: [] as TxnOp[], else: [] as TxnOp[], opts: undefined as CallOpts };
        const builder = {
          then: (...ops: Array<{ txnOp(): TxnOp }>) => (
            (b.then = ops.map(o => o.txnOp())),
            builder
          ),
          else: (...ops: Array<{ txnOp(): TxnOp }>) => (
            (b.else = ops.map(o => o.txnOp())),
            builder
          ),
          options: (o: CallOpts) => ((b.opts = o), builder),
          commit: () => {
            this.txns++;
            this.lastTxnOptions = b.opts;
            const apply = () => this.applyTxn({ key, column, op, value }, b.then, b.else);
            return b.then.some(o => o.type !== 'range')
              ? this.write(b.opts, apply)
              : this.call(b.opts, apply);
          },
        };
        return builder;
      },
      leaseClient: {
        leaseGrant: (req: { TTL: number }, options?: CallOpts) =>
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
          this.keepaliveStreams++;
          return Promise.resolve(new FakeKeepaliveStream(this));
        },
        leaseTimeToLive: (req: { ID: string }, options?: CallOpts) =>
          this.call(options, () => ({ ID: req.ID, TTL: this.leases.has(req.ID) ? '1' : '-1' })),
        leaseRevoke: (req: { ID: string }, options?: CallOpts) =>
          this.call(options, () => {
            if (!this.leases.has(req.ID)) {
              throw new EtcdLeaseInvalidError(req.ID);
            }
            this.dropLease(req.ID);
            return {};
          }),
      },
      put: (key: string) => {
        const b = { v: '', lease: '0', opts: undefined as CallOpts };
        const builder = {
          value: (v: string) => ((b.v = v), builder),
          lease: (id: string) => ((b.lease = id), builder),
          options: (o: CallOpts) => ((b.opts = o), builder),
          txnOp: (): TxnOp => ({ type: 'put', key, value: b.v, lease: b.lease }),
          exec: () => {
            this.lastTxnOptions = b.opts;
            return this.write(b.opts, () => {
              if (!this.leases.has(b.lease)) {
                throw new EtcdLeaseInvalidError(b.lease);
              }
              return { header: { revision: String(this.putKey(key, b.v, b.lease)) } };
            });
          },
        };
        return builder;
      },
      delete: () => {
        const b = { key: '', opts: undefined as CallOpts };
        const builder = {
          key: (k: string) => ((b.key = k), builder),
          options: (o: CallOpts) => ((b.opts = o), builder),
          txnOp: (): TxnOp => ({ type: 'delete', key: b.key }),
          exec: () =>
            this.call(b.opts, () => ({ header: { revision: String(this.deleteKey(b.key)) } })),
        };
        return builder;
      },
      get: (key: string) => {
        let opts: CallOpts;
        const builder = {
          txnOp: (): TxnOp => ({ type: 'range', key }),
          options: (o: CallOpts) => ((opts = o), builder),
          exec: () =>
            this.call(
              opts,
              () => {
                this.rangeCalls++;
                return { header: { revision: String(this.revision) }, kvs: this.kvsOf(key) };
              },
              this.silentReads ? 'silent' : this.network,
            ),
        };
        return builder;
      },
    };
  }
}

/** `getAll()`: a paged range read at a revision. */
class FakeRange {
  private start = '';
  private end = '\0';
  private max = 0;
  private rev: number | undefined;

  constructor(private readonly etcd: FakeEtcdStore) {}

  inRange(r: { start: Buffer | string; end: Buffer | string }): this {
    this.start = r.start.toString();
    this.end = r.end.toString();
    return this;
  }

  limit(n: number): this {
    this.max = n;
    return this;
  }

  revision(rev: string | number): this {
    this.rev = Number(rev);
    return this;
  }

  async exec(): Promise<any> {
    this.etcd.rangeCalls++;
    await Promise.resolve();
    if (this.etcd.listError) {
      throw this.etcd.listError;
    }
    if (this.etcd.failLists > 0) {
      this.etcd.failLists--;
      throw Object.assign(new Error('14 UNAVAILABLE: list failed'), { code: 14 });
    }
    const rev = this.rev ?? this.etcd.revision;
    if (rev < this.etcd.compacted && this.rev !== undefined) {
      throw new Error('etcdserver: mvcc: required revision has been compacted');
    }
    const keys = [...this.etcd.stateAt(rev).entries()]
      .filter(([k]) => inRange(k, this.start, this.end))
      .sort(([a], [b]) => (a < b ? -1 : 1));
    const page = this.max > 0 ? keys.slice(0, this.max) : keys;
    return {
      header: header(rev),
      kvs: page.map(([k, v]) => ({
        key: Buffer.from(k),
        value: Buffer.from(v.value),
        mod_revision: String(v.mod),
        lease: v.lease,
      })),
      more: page.length < keys.length,
      count: String(keys.length),
    };
  }
}
