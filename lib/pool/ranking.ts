/**
 * Endpoint ranking: which endpoint a call tries first. Pure (the caller passes the
 * clock and the rotation), so it is tested without channels or timers.
 */

/** What ranking reads from an endpoint. */
export interface Rankable {
  /** The breaker lets a call through. */
  readonly available: boolean;
  /** A call timed out there and it has not answered since. */
  readonly suspect: boolean;
  /** Its KV channel is connected. */
  readonly ready: boolean;
  /** `Date.now()` of its last failure (0: none). */
  readonly lastFailureAt: number;
  /** `Date.now()` of its last answer (0: none). */
  readonly lastAnswerAt: number;
}

export interface RankingOptions<E = Rankable> {
  /** A failure younger than this (ms) ranks the endpoint lower (the breaker's half-open delay). */
  readonly recentFailureMs: number;
  /** For writes: an endpoint silent for longer than this (ms) ranks lower (the attempt timeout). */
  readonly freshAnswerMs: number;
  /**
   * For writes: true if a call in flight on the endpoint has gone unanswered for longer
   * than its round trips explain (a member that just froze, before any probe told).
   */
  readonly stalled?: (ep: E) => boolean;
}

/**
 * `endpoints` best first, starting the rotation at index `start` so that load spreads
 * over equally good ones (the sort is stable). Lower is better: breaker open (8),
 * suspect (4), not connected (2), failed recently (1), and for a write (`forWrite`)
 * stalled calls (4) or no answer for a while (1): a write sent to a member that froze
 * silently cannot be taken back, while a read there is hedged and reveals it.
 */
export function rankEndpoints<E extends Rankable>(
  endpoints: readonly E[],
  start: number,
  now: number,
  options: RankingOptions<E>,
  forWrite = false,
): E[] {
  if (endpoints.length <= 1) {
    return [...endpoints];
  }
  const from = start % endpoints.length;
  const rotated = endpoints.slice(from).concat(endpoints.slice(0, from));
  const score = (ep: E) =>
    (ep.available ? 0 : 8) +
    (ep.suspect ? 4 : 0) +
    (ep.ready ? 0 : 2) +
    (now - ep.lastFailureAt < options.recentFailureMs ? 1 : 0) +
    (forWrite && now - ep.lastAnswerAt > options.freshAnswerMs ? 1 : 0) +
    (forWrite && options.stalled?.(ep) ? 4 : 0);
  return rotated.sort((a, b) => score(a) - score(b));
}
