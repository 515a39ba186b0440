/**
 * `client.lock('k').options({ signal }).acquire()`. etcd3 gives the options to the
 * acquiring transaction only; here the signal bounds the whole acquisition. An
 * already-aborted signal sends nothing; an abort rejects `acquire()` at once with an
 * `AbortError`, and whatever was acquired meanwhile is undone in the background: the
 * lock is released, or its lease revoked (which deletes the lock key), so the lock is
 * not held. If that fails too, the key expires with the lease's TTL.
 */
import type { Lock } from 'etcd3';
import { abortError, raceSignal, takeSignal } from '../policy/abort';

/** Makes `lock.acquire()` honour the `signal` of its call options. Returns `lock`. */
export function abortableLock<L extends Lock>(lock: L): L {
  const l = lock as unknown as {
    acquire: Lock['acquire'];
    callOptions?: { signal?: AbortSignal };
    lease?: { revoke?: () => Promise<void> };
  };
  const acquire = lock.acquire;
  l.acquire = function (this: Lock): Promise<Lock> {
    const signal = l.callOptions?.signal;
    if (!signal) {
      return acquire.call(lock);
    }
    if (signal.aborted) {
      return Promise.reject(abortError(signal, 'lock acquire'));
    }
    const acquiring = acquire.call(lock);
    return raceSignal(acquiring, signal, () => {
      // Once acquire() settles (its later requests carry the aborted signal, so they are
      // not sent), undo what got through. Without the signal: release() would reuse it.
      const undo = (acquired: boolean) => {
        l.callOptions = takeSignal(l.callOptions).rest;
        const done = acquired ? lock.release() : l.lease?.revoke?.();
        done?.catch(() => undefined);
      };
      void acquiring.then(
        () => undo(true),
        () => undo(false),
      );
      return abortError(signal, 'lock acquire');
    });
  };
  return lock;
}
