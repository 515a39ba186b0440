/**
 * The one file that touches etcd3's private parts (pinned: etcd3 1.1.2). Everything
 * the library needs from etcd3 beyond its public API is here, shape-checked:
 *
 * - an `Etcd3`'s connection pool, rerouted to ours ({@link installPool});
 * - deep imports (`etcd3/lib/connection-pool`'s `Host`, `etcd3/lib/util`'s
 *   `resolveCallOptions`), re-exported so no other file imports `etcd3/lib/*`;
 * - a namespace's `pool`, `prefix` and `watchManager`, a `Watcher`'s `request`,
 *   `manager` and `updateRevision` (watch resume, see {@link resumeExactly});
 * - Watch streams opened on the pool directly ({@link openWatchStream}).
 *
 * Elsewhere, and checked here too: `lib/lease/etcd3-lease-hooks.ts` replaces a
 * `Lease`'s private `keepalive`, `close` and `emitLoss` (its own shape check throws).
 *
 * A failed shape check either throws at construction (the pool: without it nothing
 * works) or falls back to etcd3's own behaviour and emits one process warning
 * (`ERESILIENT_ETCD3_SHAPE`) per shape. {@link checkEtcd3Shapes} lists every shape,
 * and a unit test runs it against the installed etcd3, so an etcd3 change fails CI.
 */
import type { ClientDuplexStream, Metadata } from '@grpc/grpc-js';
import {
  Etcd3 as BaseEtcd3,
  Lease,
  WatchBuilder,
  Watcher,
  type ICallable,
  type IWatchRequest,
  type IWatchResponse,
  type Namespace,
} from 'etcd3';
import { Host } from 'etcd3/lib/connection-pool';
import { resolveCallOptions } from 'etcd3/lib/util';
import { ResilientEtcdError } from '../errors';

export { Host, resolveCallOptions };
export type { CallOptionsFactory } from 'etcd3/lib/options';
export type { Services } from 'etcd3/lib/rpc';

const warned = new Set<string>();

/**
 * Emits one process warning per `shape` (`process.emitWarning`, code
 * `ERESILIENT_ETCD3_SHAPE`): the installed etcd3 is not the pinned one and a
 * fix that depends on its internals is off.
 */
export function warnShapeOnce(shape: string, consequence: string): void {
  if (warned.has(shape)) {
    return;
  }
  warned.add(shape);
  process.emitWarning(
    `etcd3-resilient: etcd3's ${shape} has an unexpected shape; ${consequence}. ` +
      'Use the etcd3 version pinned in etcd3-resilient/package.json (1.1.2).',
    { code: 'ERESILIENT_ETCD3_SHAPE' },
  );
}

// ---------------------------------------------------------------------------
// The connection pool

/** What our pool offers in place of etcd3's `ConnectionPool`. */
export interface PoolReplacement extends ICallable<unknown> {
  close(): void;
  mock(callable: ICallable<unknown>): void;
  unmock(): void;
}

const POOL_METHODS = ['exec', 'withConnection', 'markFailed', 'close', 'mock', 'unmock'] as const;

/** Reroutes `client`'s pool to `pool`. Throws if etcd3's internals are not as expected. */
export function installPool(client: BaseEtcd3, pool: PoolReplacement): void {
  const target = (client as any).pool;
  if (!target || POOL_METHODS.some(m => typeof target[m] !== 'function')) {
    throw new ResilientEtcdError(
      'etcd3-resilient: the installed etcd3 version has an unexpected connection pool shape; ' +
        'use the etcd3 version pinned in etcd3-resilient/package.json',
    );
  }
  for (const m of POOL_METHODS) {
    target[m] = (pool as any)[m].bind(pool);
  }
  Object.defineProperty(target, 'callOptionsFactory', { get: () => pool.callOptionsFactory });
  // etcd3 users (and etcd3's own suite) reach `client.pool.authenticator.awaitingMetadata`.
  target.authenticator = (pool as { authenticator?: object }).authenticator ?? target.authenticator;
}

/** The connection pool of `client` (shared by the client and all its namespaces). */
export function poolOf(client: Namespace): object {
  const pool = (client as any)?.pool;
  if (!pool || typeof pool.withConnection !== 'function' || typeof pool.markFailed !== 'function') {
    throw new ResilientEtcdError(
      'etcd3-resilient discovery: the etcd3 client has an unexpected shape (no connection pool); ' +
        'pass an Etcd3 or Namespace from the etcd3 version pinned in package.json',
    );
  }
  return pool;
}

/** The namespace prefix `client` applies to keys (empty for an `Etcd3`). */
export function namespacePrefixOf(client: Namespace): Buffer {
  const prefix = (client as any)?.prefix;
  if (prefix !== undefined && !Buffer.isBuffer(prefix)) {
    warnShapeOnce('Namespace.prefix', 'keys are treated as not prefixed');
  }
  return Buffer.isBuffer(prefix) ? prefix : Buffer.alloc(0);
}

/** `range_end` for a prefix: the prefix with its last byte below 0xff incremented. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

// ---------------------------------------------------------------------------
// Watch streams opened directly on the pool (discovery's watch hub)

/** An open etcd Watch stream plus a way to report it failed to the pool. */
export interface OpenedWatchStream {
  readonly stream: ClientDuplexStream<IWatchRequest, IWatchResponse>;
  /**
   * Tells the pool the stream failed (its breaker counts it; an UNAVAILABLE
   * error makes it reset or rebuild the endpoint's connection).
   */
  markFailed(error: Error): void;
}

interface PoolShape {
  withConnection(
    service: 'Watch',
    fn: (args: { resource: unknown; client: any; metadata: Metadata }) => unknown,
  ): Promise<unknown>;
  markFailed(resource: unknown, error: Error): void;
  callOptionsFactory?: unknown;
}

/**
 * Opens a Watch stream on one of the pool's endpoints. With `requireLeader` the
 * stream carries `hasleader: true`, so a member without a leader ends it.
 * Call options come from the client's `defaultCallOptions`, minus any deadline
 * (a watch stream lives until cancelled).
 */
export async function openWatchStream(
  pool: object,
  requireLeader: boolean,
): Promise<OpenedWatchStream> {
  const p = pool as PoolShape;
  let resource: unknown;
  // The stream itself is returned from the callback, so a pool that tracks the
  // streams of an endpoint (ours does) cancels it when it rebuilds that endpoint.
  const stream = (await p.withConnection('Watch', args => {
    resource = args.resource;
    const md = args.metadata.clone();
    if (requireLeader) {
      md.set('hasleader', 'true');
    } else {
      md.remove('hasleader'); // our pool adds it to every Watch stream by default
    }
    return args.client.watch(md, streamCallOptions(p.callOptionsFactory));
  })) as OpenedWatchStream['stream'];
  return { stream, markFailed: (error: Error) => p.markFailed(resource, error) };
}

function streamCallOptions(factory: unknown): object {
  const ctx = { service: 'Watch', method: 'watch', isStream: true };
  const resolved = typeof factory === 'function' ? factory(ctx) : factory;
  if (!resolved || typeof resolved !== 'object') {
    return {};
  }
  const { deadline: _ignored, ...rest } = resolved as Record<string, unknown>;
  return rest;
}

// ---------------------------------------------------------------------------
// etcd3's WatchManager and Watcher

/** What we use of etcd3's (private) `WatchManager`, one per namespace. */
interface WatchManagerShape {
  /** 0 idle, 1 connecting, 2 connected. */
  state: number;
  watchers: WatcherShape[];
  stream?: { cancel(): void };
}

/** What we use of a `Watcher` beyond its public API. */
interface WatcherShape {
  manager: WatchManagerShape;
  request: { start_revision?: string | number };
  updateRevision(res: unknown): void;
}

const CONNECTED = 2;

/** The watch manager of a namespace (each namespace has its own), if the shape is as expected. */
export function watchManagerOf(ns: Namespace): WatchManagerShape | undefined {
  const wm = (ns as any).watchManager;
  if (wm && Array.isArray(wm.watchers)) {
    return wm;
  }
  warnShapeOnce('Namespace.watchManager', 'watchers are not cancelled by close()');
  return undefined;
}

/** Watchers currently attached to a namespace. */
export function watchersOf(ns: Namespace): Watcher[] {
  return [...((watchManagerOf(ns)?.watchers ?? []) as unknown as Watcher[])];
}

/** True while etcd3 still holds `watcher` (not cancelled by us or by the server). */
export function isAttached(watcher: Watcher): boolean {
  const w = watcher as unknown as Partial<WatcherShape>;
  const watchers = w.manager?.watchers;
  return Array.isArray(watchers) ? watchers.includes(w as WatcherShape) : false;
}

/** A watcher whose resume point was moved back because the cluster went back in time. */
export interface WatchRewind {
  /** The watcher (etcd3's `Watcher`); `lastRevision()` now returns `toRevision`. */
  readonly watcher: Watcher;
  /** The revision it would have resumed from: one past the last event it delivered. */
  readonly fromRevision: string;
  /** The revision it resumes from now: one past the cluster's revision when it re-attached. */
  readonly toRevision: string;
  /** The cluster's current revision, read linearizably when the rewind was confirmed. */
  readonly clusterRevision: string;
}

/** What {@link resumeExactly} needs from the client to handle a cluster that went back in time. */
export interface RewindHooks {
  /** The cluster's current revision, read linearizably (through the leader). */
  currentRevision(): Promise<bigint>;
  /** Called once per watcher whose resume point was moved back. Must not throw. */
  onRewind(rewind: WatchRewind): void;
}

/**
 * Makes a watcher resume exactly where it left off. etcd3 moves a watcher's resume
 * point to the *header* revision of every response, including the "created" response
 * of a re-attached watch, whose header is the store's current revision while events
 * before it are still on their way. A stream that breaks again before they arrive then
 * resumes past them, and those events are lost. Here the resume point only moves past
 * events actually delivered (last event's mod_revision + 1), or past a progress
 * notification's header (etcd sends those only to watchers that are in sync).
 *
 * A cluster that went back in time (restored from a backup, or a new cluster behind
 * the same address) answers a re-attached watch with a header revision below the
 * resume point, and would make it wait, silently, for revisions that may not come for
 * days. Such an answer lowers the resume point to the header + 1 at once, as etcd3
 * does; with `hooks` it is then confirmed with a linearizable read. A member that only
 * lags behind the leader is no rewind: the resume point is put back (exactly-once).
 * If confirmed, every watcher of that stream that is ahead of the cluster resumes from
 * the re-attach header + 1, `hooks.onRewind` is called for each, and the stream is
 * re-opened (its watchers see etcd3's `disconnected` and `connected` events).
 */
export function resumeExactly<W extends object>(watcher: W, hooks?: RewindHooks): W {
  const w = watcher as unknown as WatcherShape;
  const request = w.request;
  if (!request || typeof w.updateRevision !== 'function') {
    warnShapeOnce('Watcher', 'watchers resume as etcd3 does (may skip events)');
    return watcher;
  }
  w.updateRevision = (res: {
    created?: boolean;
    header?: { revision?: string };
    events?: Array<{ kv: { mod_revision: string } }>;
  }) => {
    const events = res.events ?? [];
    let next: bigint;
    if (events.length > 0) {
      next = BigInt(events[events.length - 1].kv.mod_revision) + 1n;
    } else if (res.created && request.start_revision) {
      // Re-attached where we asked: nothing delivered yet.
      if (res.header?.revision !== undefined) {
        const header = BigInt(res.header.revision);
        const asked = BigInt(request.start_revision);
        if (header < asked - 1n) {
          // Below the resume point: lowered now, as etcd3 lowers it (its own suite
          // checks this at 'connected'); then confirmed or undone (see confirmRewind).
          request.start_revision = (header + 1n).toString();
          if (hooks) {
            void confirmRewind(w, asked, header, hooks, w.manager?.stream);
          }
        }
      }
      return;
    } else if (res.header?.revision !== undefined) {
      next = BigInt(res.header.revision) + 1n;
    } else {
      return;
    }
    if (!request.start_revision || next > BigInt(request.start_revision)) {
      request.start_revision = next.toString();
    }
  };
  return watcher;
}

/**
 * See {@link resumeExactly}: `w` re-attached at `asked` was answered with a header
 * revision `header` < `asked - 1`, and its resume point lowered to `header + 1`.
 * A linearizable read decides: the cluster is behind `asked - 1` (it went back in
 * time) → every watcher of the stream ahead of it rewinds to `header + 1` and the
 * stream is re-opened; the member only lagged → `w`'s resume point is put back
 * (exactly-once). If the read fails, etcd3's lowered value stays. Never rejects.
 */
async function confirmRewind(
  w: WatcherShape,
  asked: bigint,
  header: bigint,
  hooks: RewindHooks,
  stream: WatchManagerShape['stream'],
): Promise<void> {
  const manager = w.manager;
  if (!manager || !Array.isArray(manager.watchers)) {
    warnShapeOnce('Watcher.manager', 'a watch ahead of a rewound cluster is not rewound');
    return;
  }
  const resume = (header + 1n).toString();
  let cluster: bigint;
  try {
    cluster = await hooks.currentRevision();
  } catch {
    return; // unconfirmed: keep etcd3's lowered value (duplicates possible, never a silent wait)
  }
  if (cluster >= asked - 1n) {
    // A member that lagged behind the leader: nothing was lost, resume where we were.
    if (String(w.request.start_revision) === resume) {
      w.request.start_revision = asked.toString();
    }
    return;
  }
  const rewinds: WatchRewind[] = [];
  if (String(w.request.start_revision) === resume) {
    rewinds.push(rewindOf(w, asked.toString(), resume, cluster));
  }
  for (const other of manager.watchers) {
    const start = other.request?.start_revision;
    if (other !== w && start !== undefined && BigInt(start) > cluster + 1n) {
      other.request.start_revision = resume;
      rewinds.push(rewindOf(other, String(start), resume, cluster));
    }
  }
  rewinds.forEach(r => hooks.onRewind(r));
  // The server-side watches of that stream still wait at the old revisions: re-open it
  // (unless it was replaced meanwhile; its successor asked with the new revisions).
  if (
    rewinds.length > 0 &&
    manager.state === CONNECTED &&
    manager.stream === stream &&
    typeof stream?.cancel === 'function'
  ) {
    stream.cancel();
  }
}

function rewindOf(w: WatcherShape, from: string, to: string, cluster: bigint): WatchRewind {
  return {
    watcher: w as unknown as Watcher,
    fromRevision: from,
    toRevision: to,
    clusterRevision: cluster.toString(),
  };
}

/**
 * Patches `ns.watch()`'s builder so that every watcher it builds resumes exactly
 * (see {@link resumeExactly}) and is handed to `track` (e.g. to cancel it at close).
 */
export function patchWatchBuilder(
  builder: WatchBuilder,
  wrap: (watcher: Watcher) => Watcher,
): WatchBuilder {
  const b = builder as any;
  if (typeof b.watcher !== 'function') {
    warnShapeOnce('WatchBuilder.watcher', 'watchers resume as etcd3 does and are not tracked');
    return builder;
  }
  const original = b.watcher;
  b.watcher = function (this: unknown) {
    return wrap(original.call(this));
  };
  return builder;
}

// ---------------------------------------------------------------------------
// Every shape above, checked at once

/**
 * Checks every etcd3 internal this file relies on against the installed etcd3, on
 * a client that is never connected. Returns the shapes that differ (empty = all as
 * expected). Closes the client it makes.
 */
export function checkEtcd3Shapes(): string[] {
  const problems: string[] = [];
  const expect = (ok: unknown, shape: string) => {
    if (!ok) {
      problems.push(shape);
    }
  };
  expect(typeof Host === 'function', 'etcd3/lib/connection-pool Host');
  for (const m of ['getServiceClient', 'resetAllServices', 'close']) {
    expect(typeof (Host.prototype as any)[m] === 'function', `Host.prototype.${m}`);
  }
  expect(typeof resolveCallOptions === 'function', 'etcd3/lib/util resolveCallOptions');
  // Private Lease methods that lib/lease/etcd3-lease-hooks.ts replaces per instance.
  for (const m of ['keepalive', 'close', 'emitLoss']) {
    expect(typeof (Lease.prototype as any)[m] === 'function', `Lease.prototype.${m}`);
  }
  const client = new BaseEtcd3({ hosts: '127.0.0.1:1' });
  try {
    const pool = (client as any).pool;
    for (const m of POOL_METHODS) {
      expect(typeof pool?.[m] === 'function', `Etcd3.pool.${m}`);
    }
    expect(pool && 'callOptionsFactory' in pool, 'Etcd3.pool.callOptionsFactory');
    const ns = client.namespace('shape/');
    expect(Buffer.isBuffer((ns as any).prefix), 'Namespace.prefix');
    expect((ns as any).pool === pool, 'Namespace.pool');
    const wm = (ns as any).watchManager;
    expect(wm && Array.isArray(wm.watchers), 'Namespace.watchManager.watchers');
    expect(wm && typeof wm.state === 'number', 'Namespace.watchManager.state');
    const builder = ns.watch();
    expect(builder instanceof WatchBuilder, 'Namespace.watch() returns a WatchBuilder');
    expect(typeof (builder as any).watcher === 'function', 'WatchBuilder.watcher');
    for (const m of ['establishStream', 'handleError', 'detach', 'attach']) {
      expect(typeof wm?.[m] === 'function', `WatchManager.${m}`);
    }
    const proto = Watcher.prototype as any;
    expect(typeof proto.updateRevision === 'function', 'Watcher.prototype.updateRevision');
    // A watcher object itself, without attaching it to anything.
    const watcher = Object.create(Watcher.prototype);
    expect(typeof watcher.cancel === 'function', 'Watcher.prototype.cancel');
    const src = String(proto.updateRevision);
    expect(/start_revision/.test(src), 'Watcher.updateRevision sets request.start_revision');
    expect(/stream/.test(String(wm?.establishStream)), 'WatchManager.stream');
    expect(/state/.test(String(wm?.handleError)), 'WatchManager.state');
  } finally {
    client.close();
  }
  return problems;
}
