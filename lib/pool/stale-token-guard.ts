/**
 * Keeps watches alive across auth token expiry.
 *
 * etcd checks a watch's permission with the token the watch *stream* was opened
 * with, when each watcher is created on it. Once that token has expired (the
 * server's `--auth-token-ttl`, or a server restart, which forgets simple tokens),
 * etcd answers a watch creation, including the re-creation of every watcher
 * after a reconnect, with `canceled: true` and reason `invalid auth token`.
 * etcd3 treats a canceled watcher as final: it emits `error` and drops it, so the
 * application's watch silently ends for good.
 *
 * The guard turns such a cancellation into a stream error instead: etcd3 then
 * reconnects with backoff and re-creates every watcher from its last revision,
 * and the pool fetches a fresh token first. Real permission errors
 * (`permission denied`) pass through untouched. etcd's Go client does the same
 * (it retries watches canceled for an invalid token).
 */
import { EtcdInvalidAuthTokenError } from 'etcd3';

/** The part of a gRPC duplex stream the guard needs. */
interface EmittingStream {
  emit(event: string | symbol, ...args: any[]): boolean;
}

const STALE = /invalid auth token/i;

/** True for a watch response that cancels a watcher because its stream's token expired. */
export function isStaleTokenCancel(res: unknown): boolean {
  const r = res as { canceled?: boolean; cancel_reason?: unknown } | null;
  return (
    !!r && r.canceled === true && typeof r.cancel_reason === 'string' && STALE.test(r.cancel_reason)
  );
}

/**
 * Wraps `stream.emit`: a stale-token cancellation becomes one `error` event
 * (`EtcdInvalidAuthTokenError`), after which the stream's remaining events (the
 * CANCELLED error of etcd3's own `cancel()`, `end`) are dropped, except `close`.
 * `onStale` runs first (the pool forgets the token there).
 */
export function guardStaleToken(stream: EmittingStream, onStale: () => void): void {
  const emit = stream.emit;
  let dead = false;
  stream.emit = function guarded(this: unknown, event: string | symbol, ...args: any[]): boolean {
    if (dead) {
      return event === 'close' ? emit.call(this, event, ...args) : false;
    }
    if (event === 'data' && isStaleTokenCancel(args[0])) {
      dead = true;
      onStale();
      return emit.call(
        this,
        'error',
        new EtcdInvalidAuthTokenError(`Watch stream token expired: ${args[0].cancel_reason}`),
      );
    }
    return emit.call(this, event, ...args);
  };
}
