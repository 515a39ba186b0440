/**
 * An in-memory stand-in for etcd, just enough for discovery unit tests: an MVCC
 * key space with full history and compaction, paged range reads at a revision,
 * and Watch streams that behave like etcd's (created answers in order, replay
 * from a start revision, compaction cancels, progress answers with watch id -1).
 * Faults are injected by the test: break streams, stall them, make lists fail,
 * or replay already-sent events after a reconnect (a buggy server).
 */
import { EventEmitter } from 'node:events';

interface Change {
  rev: number;
  type: 'PUT' | 'DELETE';
  key: string;
  value: string;
}

interface ServerWatch {
  id: string;
  key: string;
  end: string;
  /** Next revision this watch must deliver. */
  next: number;
}

const inRange = (key: string, start: string, end: string) =>
  key >= start && (end === '\0' || key < end);
const header = (rev: number) => ({
  revision: String(rev),
  cluster_id: '1',
  member_id: '1',
  raft_term: '1',
});

export class FakeWatchStream extends EventEmitter {
  readonly watches = new Map<string, ServerWatch>();
  readonly written: any[] = [];
  /** While true, the stream accepts writes but sends nothing back (a stalled stream). */
  stalled = false;
  cancelled = false;
  private nextId = 0;

  constructor(private readonly etcd: FakeEtcd) {
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
        this.send({
          created: false,
          canceled: true,
          watch_id: id,
          events: [],
          compact_revision: '0',
          cancel_reason: '',
          header: header(this.etcd.revision),
        });
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

  /** Sends pending events to every watch (etcd's notify), `replay` extra old revisions first. */
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
          lease: '0',
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

  private send(res: any): void {
    queueMicrotask(() => {
      if (!this.cancelled && !this.stalled) {
        this.emit('data', res);
      }
    });
  }
}

export class FakeEtcd {
  revision = 1;
  compacted = 0;
  readonly history: Change[] = [];
  readonly streams = new Set<FakeWatchStream>();
  /** Every stream ever opened. */
  readonly opened: FakeWatchStream[] = [];
  /** Old revisions a new watch re-sends before its start revision (a buggy server). */
  replayOnCreate = 0;
  /** The next this-many list (range) calls fail. */
  failLists = 0;
  /** When set, every list call fails with this error (e.g. etcd3's ClientClosedError). */
  listError: Error | undefined;
  /** The next this-many stream opens fail. */
  failOpens = 0;
  readonly markFailed: Array<{ code?: number; message: string }> = [];
  rangeCalls = 0;

  put(key: string, value: string): number {
    return this.commit([{ type: 'PUT', key, value }]);
  }

  delete(key: string): number {
    return this.commit([{ type: 'DELETE', key, value: '' }]);
  }

  /** Applies several changes at one revision (a transaction). */
  commit(changes: Array<Omit<Change, 'rev'>>): number {
    const rev = ++this.revision;
    for (const c of changes) {
      this.history.push({ ...c, rev });
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
  stateAt(rev = this.revision): Map<string, { value: string; mod: number }> {
    const state = new Map<string, { value: string; mod: number }>();
    for (const c of this.history) {
      if (c.rev > rev) break;
      if (c.type === 'PUT') state.set(c.key, { value: c.value, mod: c.rev });
      else state.delete(c.key);
    }
    return state;
  }

  /** A fake `Namespace`: `getAll()` range builder, and the `pool` discovery opens streams on. */
  client(): any {
    const etcd = this;
    const pool = {
      callOptionsFactory: undefined,
      async withConnection(_service: string, fn: (args: any) => any) {
        if (etcd.failOpens > 0) {
          etcd.failOpens--;
          throw Object.assign(new Error('14 UNAVAILABLE: no connection'), { code: 14 });
        }
        const stream = new FakeWatchStream(etcd);
        const grpcClient = {
          watch: (md: any) => {
            (stream as any).metadata = md;
            etcd.streams.add(stream);
            etcd.opened.push(stream);
            return stream;
          },
        };
        const { Metadata } = await import('@grpc/grpc-js');
        return fn({ resource: 'host', client: grpcClient, metadata: new Metadata() });
      },
      markFailed(_resource: unknown, err: Error & { code?: number }) {
        etcd.markFailed.push({ code: err.code, message: err.message });
      },
    };
    return {
      pool,
      prefix: Buffer.alloc(0),
      getAll: () => new FakeRange(etcd),
    };
  }
}

class FakeRange {
  private start = '';
  private end = '\0';
  private max = 0;
  private rev: number | undefined;

  constructor(private readonly etcd: FakeEtcd) {}

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
      })),
      more: page.length < keys.length,
      count: String(keys.length),
    };
  }
}
