/**
 * Works around a grpc-js (1.14) connection leak that our channel rebuilds and
 * `close()` during an outage would otherwise trigger again and again.
 *
 * When the last user of a grpc-js subchannel lets go (its refcount drops to 0),
 * grpc-js shuts it down by moving it to IDLE, but only from CONNECTING or READY.
 * A subchannel in TRANSIENT_FAILURE stays there with its backoff timer running;
 * if a channel had asked it to connect, the timer moves it to CONNECTING, it
 * connects as soon as the server is back, and then holds that TCP connection
 * (and its fd) for good: nothing references the subchannel any more, so nothing
 * ever closes it. Closing a client, or rebuilding an endpoint's channels, while
 * a member is down is exactly that case; measured in a churn test, a handful of
 * such connections per minute of faults, never released.
 *
 * The fix completes grpc-js's own shutdown: a subchannel whose refcount reached 0
 * and that is in TRANSIENT_FAILURE is moved to IDLE too, so its backoff timer
 * finds nothing to do. It is installed once per grpc-js copy, only if the
 * internals have the expected shape (otherwise it does nothing), and it changes
 * nothing for subchannels that are still in use.
 */
import { connectivityState } from '@grpc/grpc-js';
import * as path from 'node:path';

const PATCHED = Symbol.for('etcd3-resilient.orphan-subchannel-fix');

interface SubchannelInternals {
  refcount: number;
  unref(): void;
  transitionToState(from: connectivityState[], to: connectivityState): boolean;
}

function patch(proto: SubchannelInternals & { [PATCHED]?: true }): boolean {
  if (proto[PATCHED]) {
    return true;
  }
  if (typeof proto.unref !== 'function' || typeof proto.transitionToState !== 'function') {
    return false;
  }
  const unref = proto.unref;
  proto.unref = function unrefAndShutDown(this: SubchannelInternals): void {
    unref.call(this);
    if (this.refcount === 0) {
      // Same tick as grpc-js's own CONNECTING/READY -> IDLE shutdown.
      process.nextTick(() => {
        if (this.refcount === 0) {
          this.transitionToState([connectivityState.TRANSIENT_FAILURE], connectivityState.IDLE);
        }
      });
    }
  };
  Object.defineProperty(proto, PATCHED, { value: true });
  return true;
}

let installed: boolean | undefined;

/**
 * Installs the fix into the grpc-js used by etcd3 (and ours, if it is another
 * copy). Idempotent. Returns false if grpc-js's internals are not as expected,
 * in which case nothing was changed.
 */
export function installOrphanSubchannelFix(): boolean {
  if (installed !== undefined) {
    return installed;
  }
  const roots = new Set<string>();
  for (const from of [__dirname, path.dirname(require.resolve('etcd3'))]) {
    try {
      roots.add(require.resolve('@grpc/grpc-js/build/src/subchannel', { paths: [from] }));
    } catch {
      // grpc-js laid out differently: leave it alone
    }
  }
  installed = roots.size > 0;
  for (const file of roots) {
    const proto = require(file)?.Subchannel?.prototype as
      (SubchannelInternals & { [PATCHED]?: true }) | undefined;
    installed = !!proto && patch(proto) && installed;
  }
  return installed;
}
