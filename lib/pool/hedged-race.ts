/**
 * One round of a safe (repeatable) call over the endpoints, hedged ("The Tail at
 * Scale", Dean & Barroso 2013; gRPC's hedging policy, gRFC A6): the first endpoint is
 * tried; if it has not answered within its hedge delay (a high percentile of its recent
 * round trips), the same call is also sent to the next endpoint, if the hedge budget
 * allows. The first answer wins and the other attempts are cancelled. An attempt that
 * fails with an error worth another try hands over to the next endpoint at once (no
 * budget needed: it adds no concurrent load), one that fails otherwise ends the round.
 *
 * No attempt is cut short here: with one endpoint, or when every endpoint is slow, the
 * attempt runs until the call's own deadline. Only when every other endpoint has failed
 * and the attempts still running were all hedged away from (found slow) does the round
 * end early, cancelling them, so the next round can try again. If the budget is spent, a slow attempt
 * still gets a second one after `forceDelayMs` (the old attempt timeout, stretched by
 * measured round trips), so a frozen member never costs more than that.
 */

/** An attempt in flight. */
export interface RaceAttempt<T> {
  readonly promise: Promise<T>;
  /** Cancels the attempt (it lost, or the round ended); idempotent. */
  cancel(): void;
}

/** What {@link hedgedRace} needs from the pool. */
export interface RaceOptions<E, T> {
  /** Endpoints to try, best first. */
  readonly candidates: readonly E[];
  /** Starts an attempt on `ep`. Must not throw (a failure rejects `promise`). */
  attempt(ep: E): RaceAttempt<T>;
  /** ms after which an attempt on `ep` that has not answered is hedged (budget permitting). */
  hedgeDelayMs(ep: E): number;
  /** ms after which an attempt on `ep` that has not answered is hedged even without budget. */
  forceDelayMs(ep: E): number;
  /**
   * May an attempt on `from` be hedged to `to` now? Takes one hedge from the budget
   * (false when spent), unless `from` is known not to answer while `to` is not (then the
   * hedge adds no load that is served).
   */
  tryHedge(from: E, to: E): boolean;
  /** After a failed attempt: may the round go on to the next endpoint? */
  worthAnotherTry(err: unknown): boolean;
  /**
   * If given: when every endpoint has been tried and every attempt is past its force
   * delay (all found slow, e.g. a frozen leader and followers stuck waiting for it), the
   * round ends with this error (cancelling the attempts) so that a new round sends fresh
   * requests. Without it, the round waits for the first answer.
   */
  allSlowError?(): unknown;
  /** An attempt on `from` is being hedged to `to` (`forced`: without budget). */
  onHedge?(from: E, to: E, forced: boolean): void;
  /** An attempt on `ep` answered first, after `ms`. */
  onWin?(ep: E, ms: number): void;
  /** An attempt on `ep` was cancelled after running `ms` because another answered first. */
  onLose?(ep: E, ms: number): void;
}

interface Running<E, T> {
  readonly ep: E;
  readonly attempt: RaceAttempt<T>;
  readonly startedAt: number;
  hedgeTimer?: NodeJS.Timeout;
  forceTimer?: NodeJS.Timeout;
  /** This attempt already handed over to a next one (by hedge, force or failure). */
  handedOver: boolean;
}

/**
 * Runs one hedged round; resolves with the first answer, rejects with the error that
 * ended the round (the last error if every endpoint failed). `candidates` must not be
 * empty.
 */
export function hedgedRace<E, T>(options: RaceOptions<E, T>): Promise<T> {
  const { candidates } = options;
  return new Promise<T>((resolve, reject) => {
    const running = new Set<Running<E, T>>();
    let next = 0;
    let done = false;
    let lastErr: unknown;

    const disarm = (r: Running<E, T>) => {
      clearTimeout(r.hedgeTimer);
      clearTimeout(r.forceTimer);
    };
    const finish = (winner: Running<E, T> | undefined) => {
      done = true;
      const now = Date.now();
      for (const r of running) {
        disarm(r);
        if (r !== winner) {
          r.attempt.cancel();
          if (winner) {
            options.onLose?.(r.ep, now - r.startedAt);
          }
        }
      }
      running.clear();
    };
    /** Starts the next candidate; false if none is left. */
    const launch = (): boolean => {
      if (done || next >= candidates.length) {
        return false;
      }
      const ep = candidates[next++]!;
      const r: Running<E, T> = {
        ep,
        attempt: options.attempt(ep),
        startedAt: Date.now(),
        handedOver: false,
      };
      running.add(r);
      if (next < candidates.length) {
        r.hedgeTimer = setTimeout(() => hedge(r, false), options.hedgeDelayMs(ep));
        r.forceTimer = setTimeout(() => hedge(r, true), options.forceDelayMs(ep));
      } else if (options.allSlowError && candidates.length > 1) {
        r.forceTimer = setTimeout(() => {
          r.handedOver = true; // found slow too
          if (!done && [...running].every(other => other.handedOver)) {
            // Each attempt has taken at least this long: the next round waits longer.
            const now = Date.now();
            for (const other of running) {
              options.onLose?.(other.ep, now - other.startedAt);
            }
            finish(undefined);
            reject(options.allSlowError!());
          }
        }, options.forceDelayMs(ep));
      }
      r.attempt.promise.then(
        value => {
          if (done) {
            return;
          }
          options.onWin?.(ep, Date.now() - r.startedAt);
          finish(r);
          resolve(value);
        },
        err => {
          disarm(r);
          running.delete(r);
          if (done) {
            return;
          }
          lastErr = err;
          if (!options.worthAnotherTry(err)) {
            finish(undefined);
            reject(err);
            return;
          }
          if (!r.handedOver) {
            r.handedOver = true;
            launch();
          }
          // Nothing left to try and every attempt still running was already found slow
          // (hedged away from): end the round rather than wait on them until the deadline,
          // so that the next round (after a short backoff) can try the others again.
          if (
            next >= candidates.length &&
            [...running].every(other => other.handedOver) &&
            !launch()
          ) {
            finish(undefined);
            reject(lastErr);
          }
        },
      );
      return true;
    };
    const hedge = (r: Running<E, T>, forced: boolean) => {
      if (done || r.handedOver || next >= candidates.length) {
        return;
      }
      if (!forced && !options.tryHedge(r.ep, candidates[next]!)) {
        return; // the force timer may still hand over later
      }
      r.handedOver = true;
      disarm(r);
      options.onHedge?.(r.ep, candidates[next]!, forced);
      launch();
    };
    if (!launch()) {
      reject(new RangeError('hedgedRace needs at least one candidate'));
    }
  });
}
