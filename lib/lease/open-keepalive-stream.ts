/**
 * Opens a `LeaseKeepAlive` stream through a pool (ours or etcd3's) and says which
 * endpoint carries it, so that a keepalive loop can move away from a slow member.
 */
import type { Metadata } from '@grpc/grpc-js';
import type { IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';

/** A keepalive stream as grpc-js returns it. */
export type KeepaliveDuplex = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> & {
  readonly writable?: boolean;
};

/** The part of a pool a keepalive stream needs (etcd3's `ICallable`). */
export interface StreamPool {
  withConnection<R>(
    service: 'Lease',
    fn: (args: { resource: unknown; client: any; metadata: Metadata }) => R | Promise<R>,
  ): Promise<R>;
  markFailed(resource: any, error: Error): void;
}

/** An open stream and the endpoint (pool resource) it runs on. */
export interface OpenedStream {
  readonly stream: KeepaliveDuplex;
  readonly resource: unknown;
}

/**
 * Opens a stream on the pool's best endpoint. With our pool, an endpoint on which a
 * failure was just recorded ranks after the others, so recording one on a slow
 * member first (see {@link noteSlow}) makes the new stream land elsewhere.
 */
export async function openKeepaliveStream(pool: StreamPool): Promise<OpenedStream> {
  let on: unknown;
  // The stream itself is returned to the pool, so that our pool tracks it (a rebuild
  // of its endpoint cancels it).
  const stream = await pool.withConnection('Lease', ({ resource, client, metadata }) => {
    on = resource;
    const s = client.leaseKeepAlive(metadata, {}) as KeepaliveDuplex;
    // As etcd3 does: a stream error counts against its endpoint (unless we ended it).
    s.on('error', (err: Error) => s.writable && pool.markFailed(resource, err));
    return s;
  });
  return { stream, resource: on };
}

/**
 * Records on `resource` (our pool's endpoint) that a keepalive went unanswered, so the
 * pool ranks it after the others for a while. No-op for a pool without that notion.
 */
export function noteSlow(resource: unknown, waitedMs: number): void {
  const ep = resource as { recordFailure?: (err: unknown) => void } | undefined;
  if (typeof ep?.recordFailure === 'function') {
    ep.recordFailure(new Error(`lease keepalive unanswered for ${Math.round(waitedMs)} ms`));
  }
}

/** Ends a stream without an error reaching the pool; never throws. */
export function dropStream(stream: KeepaliveDuplex): void {
  try {
    stream.cancel();
  } catch {
    // already closed
  }
}
