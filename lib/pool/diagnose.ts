/**
 * What is wrong with an endpoint whose call went unanswered for longer than usual:
 * nothing (the link is slow, and a status call on the same connection is answered in
 * the end), its connection (a fresh connection answers while the old one stays
 * silent), the path to it (a fresh connection is refused while the old one stays
 * silent: the member is down or cut off), or the member itself (nothing answers within
 * the patience: frozen, or a link too slow to serve any call within a deadline).
 *
 * `dead-connection`, `unreachable` and `unresponsive` justify a rebuild; `alive` must
 * not lead to one, or the calls still waiting on a slow link would be cut off.
 */
import type { FreshAnswer } from './fresh-probe';

/** The verdict of {@link diagnose}. */
export type Diagnosis =
  /** The current connection answered a status call after `rttMs`. */
  | { readonly kind: 'alive'; readonly rttMs: number }
  /** The current connection stayed silent while a fresh one answered: rebuild it. */
  | { readonly kind: 'dead-connection'; readonly afterMs: number }
  /**
   * The current connection stayed silent and a fresh one was refused: rebuild it now,
   * so calls fail fast instead of hanging on it, and the new channel re-dials until the
   * member accepts connections again.
   */
  | { readonly kind: 'unreachable'; readonly afterMs: number }
  /** Nothing answered within the patience. */
  | { readonly kind: 'unresponsive'; readonly afterMs: number };

/** What {@link diagnose} needs. */
export interface DiagnoseOptions {
  /**
   * Sends a status call on the endpoint's current connection; resolves true when it is
   * answered within `timeoutMs`, false otherwise. Must not reject.
   */
  statusOnCurrent(timeoutMs: number): Promise<boolean>;
  /** Same on a fresh, throwaway connection; says whether it answered, was refused, or stayed silent. Must not reject. */
  statusOnFresh(timeoutMs: number): Promise<FreshAnswer>;
  /** After this long without an answer, a fresh connection is tried too. */
  readonly freshAfterMs: number;
  /** The longest wait for an answer on the current connection (a call's deadline). */
  readonly patienceMs: number;
}

/** Runs the probes; see the module comment. Never rejects. */
export function diagnose(options: DiagnoseOptions): Promise<Diagnosis> {
  const start = Date.now();
  const elapsed = () => Date.now() - start;
  return new Promise<Diagnosis>(resolve => {
    let settled = false;
    let freshTimer: NodeJS.Timeout | undefined;
    const settle = (d: Diagnosis) => {
      if (!settled) {
        settled = true;
        clearTimeout(freshTimer);
        resolve(d);
      }
    };
    options.statusOnCurrent(options.patienceMs).then(
      answered =>
        settle(
          answered
            ? { kind: 'alive', rttMs: elapsed() }
            : { kind: 'unresponsive', afterMs: elapsed() },
        ),
      () => settle({ kind: 'unresponsive', afterMs: elapsed() }),
    );
    if (options.freshAfterMs < options.patienceMs) {
      freshTimer = setTimeout(() => {
        if (settled) {
          return;
        }
        options.statusOnFresh(options.patienceMs - options.freshAfterMs).then(
          answer => {
            if (answer === 'answered') {
              settle({ kind: 'dead-connection', afterMs: elapsed() });
            } else if (answer === 'refused') {
              settle({ kind: 'unreachable', afterMs: elapsed() });
            }
          },
          () => undefined,
        );
      }, options.freshAfterMs);
    }
  });
}
