/**
 * Node's timers take delays up to 2^31 − 1 ms (about 24.8 days); a longer delay (a
 * lease TTL of years, a far deadline) is replaced by 1 ms with a TimeoutOverflowWarning,
 * which turns a timer meant for later into a busy loop. Every timer whose delay derives
 * from user input goes through {@link timerDelay}; one that must wait longer re-arms
 * itself for the rest when it fires.
 */

/** Node's largest timer delay, ms. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** `ms` as a delay Node's timers honour: clamped to [0, {@link MAX_TIMER_DELAY_MS}]; NaN gives 0. */
export function timerDelay(ms: number): number {
  return ms > 0 ? Math.min(ms, MAX_TIMER_DELAY_MS) : 0;
}
