/**
 * One round of a unary call: every endpoint whose breaker lets it through is tried
 * once, best first, with no delay between them. A safe call with two or more
 * candidates is hedged (`hedged-race.ts`); any other goes endpoint by endpoint while
 * its error is worth another try. A write that every member refused with "no leader"
 * (an election) asks again shortly without spending a retry round. When every
 * endpoint refused its connection, the round fails at once with
 * `NoEndpointAvailableError`.
 */
import { status as Status } from '@grpc/grpc-js';
import { GRPCDeadlineExceededError } from 'etcd3';
import { NoEndpointAvailableError } from '../errors';
import { describeError } from '../policy/describe-error';
import { NO_LEADER } from './attempt-error';
import { withCall, type AttemptHandle, type CallPool, type CallState } from './call-context';
import { worthAnotherTry } from './call-retry';
import { mark } from './classify';
import { NotConnectedError, type Endpoint } from './endpoint';
import type { HedgeBudget } from './hedge-budget';
import { hedgedRace } from './hedged-race';

/** How often a write asks again while no member has a leader (an election). */
const LEADER_POLL_MS = 50;

/** Runs one attempt of the call on `ep` (behind its breaker and host policy). */
export type AttemptOn = <T>(ep: Endpoint, call: CallState, handle: AttemptHandle) => Promise<T>;

/** Runs one round of `call`; rejects with its last error, tagged with the call. */
export async function runRound<T>(
  pool: CallPool,
  budget: HedgeBudget,
  call: CallState,
  attemptOn: AttemptOn,
): Promise<T> {
  const candidates = available(pool.order(!call.safe));
  if (call.trace.recording && candidates.length < pool.endpoints.length) {
    pool.endpoints.filter(ep => !ep.available).forEach(ep => call.trace.breakerRejected(ep.url));
  }
  if (candidates.length === 0) {
    throw withCall(
      new NoEndpointAvailableError(
        `Every etcd endpoint's circuit breaker is open (${pool.endpoints.length} endpoints); last error: ${describeError(pool.lastCause)}`,
        pool.lastCause,
      ),
      call,
    );
  }
  const failures: unknown[] = [];
  try {
    if (call.safe && candidates.length > 1) {
      return await hedgedRound<T>(pool, budget, call, candidates, attemptOn, failures);
    }
    for (;;) {
      let lastErr: unknown;
      let noLeader = 0;
      for (const ep of candidates) {
        try {
          const start = Date.now();
          const result = await attemptOn<T>(ep, call, { cancelled: false });
          ep.latency.record(Date.now() - start);
          return result;
        } catch (err) {
          lastErr = withCall(err, call);
          failures.push(err);
          noLeader += NO_LEADER.test((err as Error)?.message ?? '') ? 1 : 0;
          if (!worthAnotherTry(pool, call, err)) {
            throw err;
          }
        }
      }
      // An election is under way and no member has a leader yet: none applied the
      // write. Ask again shortly, within the deadline, without spending a retry round:
      // the write goes through as soon as a leader exists.
      const waitMs = Math.min(LEADER_POLL_MS, call.deadline - Date.now() - LEADER_POLL_MS);
      if (noLeader === candidates.length && waitMs > 0 && !pool.closed && !call.abort.aborted) {
        await new Promise(resolve => setTimeout(resolve, waitMs));
        failures.length = 0;
        continue;
      }
      throw lastErr;
    }
  } catch (err) {
    if (
      failures.length === candidates.length &&
      failures.every(f => f instanceof NotConnectedError && f.connectFailed)
    ) {
      // Every endpoint refused its connection (or failed its TLS handshake): definite,
      // and known at once. Fail now rather than retry against the same refusals.
      throw withCall(
        new NoEndpointAvailableError(
          `${call.service}.${call.method}: no etcd endpoint accepted a connection (${candidates.length} tried: refused, or a failed TLS handshake); last error: ${describeError(err)}`,
          err,
        ),
        call,
      );
    }
    throw withCall(err, call);
  }
}

/** The endpoints of `ranked` whose breaker lets a call through; `ranked` itself if all do. */
function available(ranked: Endpoint[]): Endpoint[] {
  for (const ep of ranked) {
    if (!ep.available) {
      return ranked.filter(e => e.available);
    }
  }
  return ranked;
}

/** A safe call over two or more endpoints: see `hedged-race.ts`. */
function hedgedRound<T>(
  pool: CallPool,
  budget: HedgeBudget,
  call: CallState,
  candidates: Endpoint[],
  attemptOn: AttemptOn,
  failures: unknown[],
): Promise<T> {
  return hedgedRace<Endpoint, T>({
    candidates,
    attempt: ep => {
      const handle: AttemptHandle = { cancelled: false };
      return {
        promise: attemptOn<T>(ep, call, handle).catch(err => {
          failures.push(err);
          throw withCall(err, call);
        }),
        cancel: () => {
          handle.cancelled = true;
          handle.pending?.cancel();
        },
      };
    },
    hedgeDelayMs: ep => pool.hedgeDelayMs(ep),
    forceDelayMs: ep => pool.forceDelayMs(ep),
    // From a member with a call stalled beyond its round trips (frozen, or the old leader
    // after an election that spent the budget) to one without, a hedge needs no budget:
    // the copy left there is not served. When every member is slow, all are stalled and
    // the budget applies.
    tryHedge: (from, to) => (pool.stalled(from) && !pool.stalled(to)) || budget.tryWithdraw(),
    worthAnotherTry: err => worthAnotherTry(pool, call, err),
    allSlowError: () =>
      mark(
        new GRPCDeadlineExceededError(
          `${call.service}.${call.method}: no answer from any of ${candidates.length} endpoints within their force delay; asking again`,
        ),
        { sent: true, hang: true, grpcCode: Status.DEADLINE_EXCEEDED },
      ),
    onHedge: (from, to, forced) => {
      pool.log.debug({ from: from.url, to: to.url, forced }, 'hedging a slow read');
      call.trace.hedge(to.url);
      pool.probe(from);
    },
    onWin: (ep, ms) => {
      call.endpoint = ep; // the one that answered
      ep.latency.record(ms);
    },
    onLose: (ep, ms) => ep.latency.recordAtLeast(ms),
  });
}
