/**
 * etcd3 1.1.2's own keepalive rules, kept beside our expiry bound so that code written
 * against etcd3 sees the same events, payloads and messages at the same (possibly faked)
 * times. Both run on the global `setTimeout` and `Date.now`, so fake timers drive them
 * exactly as they drive etcd3's:
 *
 * - **silence**: no keepalive answer for the requested TTL since the stream opened or
 *   last answered → `keepaliveFailed` with `GRPCCancelledError('GRPC watch stream has
 *   timed out.')`, and the stream is replaced {@link RECONNECT_DELAY_MS} later;
 * - **2×TTL**: when a stream is re-opened after a failure, more than 2×TTL since the
 *   last answer (etcd3's `lastKeepAlive`, wall clock) → `lost` with
 *   {@link leaseExpiredError}.
 *
 * Our own bound (see `ExpiryBound`) fires earlier on a real silent network, with the
 * same error.
 */
import { EtcdLeaseInvalidError, GRPCCancelledError } from 'etcd3';
import { timerDelay } from '../policy/timer-delay';

/** Delay before re-opening a keepalive stream after a failure, ms (etcd3's). */
export const RECONNECT_DELAY_MS = 100;

/**
 * The error etcd3 gives a lease it considers expired because etcd was not reached in
 * time ("...our lease has expired..."), also used when our bound fires.
 */
export function leaseExpiredError(): EtcdLeaseInvalidError {
  return new EtcdLeaseInvalidError('We lost connection to etcd and our lease has expired.');
}

/** The `keepaliveFailed` payload of a stream that answered nothing for a TTL (etcd3's). */
export function streamTimedOutError(): GRPCCancelledError {
  return new GRPCCancelledError('GRPC watch stream has timed out.');
}

/** etcd3's 2×TTL rule: `lastKeepAlive` (Date.now ms) older than twice the TTL. */
export function silentTooLong(lastKeepAlive: number, ttlMs: number): boolean {
  return Date.now() - lastKeepAlive > 2 * ttlMs;
}

/** etcd3's silence timer: fires `onSilent` once after `ms` unless re-armed or cleared. */
export class SilenceTimer {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly onSilent: () => void) {}

  /** (Re)starts the countdown. */
  arm(ms: number): void {
    this.armUntil(Date.now() + ms);
  }

  private armUntil(due: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        if (Date.now() < due) {
          this.armUntil(due); // longer than one timer can wait (a TTL of years)
        } else {
          this.onSilent();
        }
      },
      timerDelay(due - Date.now()),
    );
    this.timer.unref?.();
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
