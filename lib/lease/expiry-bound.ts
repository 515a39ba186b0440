/**
 * The holder's bound on when etcd expires a lease. etcd extends a lease to "now + TTL"
 * on its leader when it processes a keepalive, which is after the holder sent it; so
 * the SEND time of the last acknowledged keepalive plus the TTL that etcd returned is
 * a lower bound, on the holder's monotonic clock, for the moment etcd can expire the
 * lease. The holder gives up ownership a safety margin before that bound.
 */
import { performance } from 'node:perf_hooks';

/** Lower limit of the safety margin, ms. */
export const MIN_SAFETY_MARGIN_MS = 100;
/** Share of the TTL kept as safety margin (covers clock-rate error between holder and etcd). */
export const SAFETY_MARGIN_RATIO = 0.05;

/** The safety margin for a TTL: `max(100 ms, 5 % of the TTL)`. */
export function safetyMarginMs(ttlMs: number): number {
  return Math.max(MIN_SAFETY_MARGIN_MS, ttlMs * SAFETY_MARGIN_RATIO);
}

/** `performance.now` as loaded: fake timers installed later replace the global only. */
const realPerformanceNow = performance.now.bind(performance);

/**
 * Monotonic clock, ms. Unaffected by wall-clock steps (NTP, manual changes), and by fake
 * timers (sinon, vitest) installed after this module loaded: the bound is about real
 * time, and etcd3's own rules (which do follow faked time) run beside it.
 */
export const monotonicNow = (): number => realPerformanceNow();

/**
 * Tracks the lease's earliest possible expiry. Invariant: `expiresBy` only grows,
 * and every value it took was `sentAt + ttlMs` of a grant or keepalive that etcd
 * acknowledged.
 */
export class ExpiryBound {
  private bound = -Infinity;
  private ttl = 0;

  /** Earliest moment (monotonic ms) at which etcd may expire the lease; -Infinity before any grant. */
  get expiresBy(): number {
    return this.bound;
  }

  /** TTL etcd last reported, ms (0 before any). */
  get ttlMs(): number {
    return this.ttl;
  }

  /** Moment (monotonic ms) at which the holder must consider the lease lost. */
  get lostAt(): number {
    return this.bound - safetyMarginMs(this.ttl);
  }

  /**
   * etcd acknowledged a grant or keepalive sent at `sentAt` (monotonic ms) with a TTL
   * of `ttlSeconds`. An older acknowledgment never shortens the bound.
   */
  acknowledged(sentAt: number, ttlSeconds: number): void {
    const ttlMs = ttlSeconds * 1000;
    this.ttl = ttlMs;
    this.bound = Math.max(this.bound, sentAt + ttlMs);
  }

  /** ms left until {@link lostAt} at `now` (negative once passed). */
  remainingMs(now: number): number {
    return this.lostAt - now;
  }
}
