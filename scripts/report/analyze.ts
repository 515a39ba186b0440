/**
 * Pure analysis of the call records of one client in one fault scenario: when the
 * caller first learnt of the fault, when it got service back, which calls hung.
 */
import type { CallRecord } from './load';

/** Our client's default call deadline, in ms; also the "learns of the fault" yardstick. */
export const DEADLINE_MS = 5000;
/**
 * A call is hung when it took longer than this, or never returned: the 5 s default
 * deadline plus 1 s for timer and event-loop jitter on a busy machine, so a call
 * failing at its deadline (5.0x s) is not counted as hung.
 */
export const HUNG_MS = 6000;

/** The fault window, in ms since t0. `end === start` for an instant fault (reset, flush). */
export interface FaultWindow {
  readonly start: number;
  readonly end: number;
}

/** What the caller experienced. Durations in ms. */
export interface CallStats {
  readonly total: number;
  readonly ok: number;
  /** Calls that returned an error (within {@link HUNG_MS}). */
  readonly errors: number;
  /** Calls that took longer than {@link HUNG_MS} or never returned. */
  readonly hung: number;
  /** Of `hung`, calls that never returned at all. */
  readonly neverReturned: number;
  /** Longest call; `Infinity` if one never returned. */
  readonly longestMs: number;
  /**
   * From fault start until the caller first learnt of it: the end of the first
   * failed call, or the moment a call had been waiting {@link DEADLINE_MS}. Undefined
   * when no call failed or was slow: the fault did not disrupt this client.
   */
  readonly learnMs?: number;
  /** How the caller learnt: an error, or a call slower than the deadline. */
  readonly learnKind?: 'error' | 'slow';
  /**
   * From fault end until the first success of a call started after it. Undefined
   * when no call started after the fault end succeeded: the client never recovered.
   */
  readonly recoverMs?: number;
  /** Calls started after recovery that failed or hung: did it stay recovered? */
  readonly failedAfterRecovery: number;
  /** Error messages seen, with counts, most frequent first (at most 3). */
  readonly topErrors: Array<{ error: string; count: number }>;
}

const durationOf = (r: CallRecord): number => (r.end === undefined ? Infinity : r.end - r.start);
const isHung = (r: CallRecord): boolean => durationOf(r) > HUNG_MS;

/**
 * Summarises `records` for a fault `window`. Calls still pending are taken as
 * never returned (the runner waits {@link HUNG_MS} after the load stops before
 * calling this, so only genuinely stuck calls are pending).
 */
export function analyze(records: readonly CallRecord[], window: FaultWindow): CallStats {
  let ok = 0;
  let errors = 0;
  let hung = 0;
  let neverReturned = 0;
  let longestMs = 0;
  let learnAt = Infinity;
  let learnKind: 'error' | 'slow' | undefined;
  const errorCounts = new Map<string, number>();
  for (const r of records) {
    const d = durationOf(r);
    longestMs = Math.max(longestMs, d);
    if (isHung(r)) {
      hung++;
      if (r.end === undefined) neverReturned++;
    } else if (r.ok) {
      ok++;
    } else {
      errors++;
    }
    if (r.ok === false) {
      const key = (r.error ?? 'Error').replace(/\d+(\.\d+)?( ?ms)?/g, 'N');
      errorCounts.set(key, (errorCounts.get(key) ?? 0) + 1);
    }
    // The caller learns of the fault from a failure, or from a call slower than the deadline.
    if (r.ok === false && r.end !== undefined && r.end >= window.start && r.end < learnAt) {
      learnAt = r.end;
      learnKind = 'error';
    }
    const slowAt = r.start + DEADLINE_MS;
    if (d > DEADLINE_MS && slowAt >= window.start && slowAt < learnAt) {
      learnAt = slowAt;
      learnKind = 'slow';
    }
  }
  let recoverAt = Infinity;
  for (const r of records) {
    if (r.start >= window.end && r.ok && r.end !== undefined && r.end < recoverAt)
      recoverAt = r.end;
  }
  const failedAfterRecovery = records.filter(
    r => r.start > recoverAt && (r.ok === false || isHung(r)),
  ).length;
  const topErrors = [...errorCounts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([error, count]) => ({ error, count }));
  return {
    total: records.length,
    ok,
    errors,
    hung,
    neverReturned,
    longestMs,
    ...(learnKind ? { learnMs: learnAt - window.start, learnKind } : {}),
    ...(Number.isFinite(recoverAt) ? { recoverMs: Math.max(0, recoverAt - window.end) } : {}),
    failedAfterRecovery,
    topErrors,
  };
}
