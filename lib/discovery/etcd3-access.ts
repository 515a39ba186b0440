/**
 * The one file of discovery that reaches into etcd3's internals, shape-checked.
 *
 * Discovery runs its own watch stream (see watch-hub.ts) instead of etcd3's
 * `WatchManager`, because that manager (1.1.2) throws an uncaught
 * `ClientRuntimeError` on the answer to a progress request (it carries watch id
 * -1), takes no per-stream metadata, and resumes from the header revision of the
 * last response, which can skip events that were still queued server-side. The
 * stream is opened through the client's own connection pool (`pool.withConnection`),
 * so host selection, breakers, auth tokens, call options and our resilient pool
 * (when the client is our `Etcd3`) all apply.
 */
import type { ClientDuplexStream, Metadata } from '@grpc/grpc-js';
import type { IWatchRequest, IWatchResponse, Namespace } from 'etcd3';
import { ResilientEtcdError } from '../errors';

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
  return Buffer.isBuffer(prefix) ? prefix : Buffer.alloc(0);
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
