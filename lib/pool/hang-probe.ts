/**
 * The hang probe: after a call on an endpoint went unanswered for longer than usual,
 * finds out whether the endpoint is alive (see `diagnose.ts`): a tiny
 * `Maintenance.status` call on the same connection, and, if that is slow too, one on a
 * fresh connection. The endpoint is marked `suspect` meanwhile (writes avoid it).
 *
 * - Answered on the same connection, however late: alive, just slow (or waiting on
 *   the cluster). Its round trip is recorded; nothing is rebuilt, so calls still
 *   waiting on a slow link are not cut off.
 * - The old connection silent while a fresh one answers: the connection is dead (a
 *   NAT or load-balancer flush); `onDead` rebuilds it at once.
 * - The old connection silent while a fresh one is refused: the member is down or cut
 *   off; `onDead` rebuilds at once, so calls fail fast (refused) instead of hanging on
 *   the dead connection, and the new channel re-dials until the member is back.
 * - Nothing answers within the patience (a call's deadline): the member is frozen or
 *   unreachable; `onDead` counts it against the breaker and rebuilds.
 */
import { Metadata, status as Status } from '@grpc/grpc-js';
import type { Logger } from '../logger';
import { diagnose } from './diagnose';
import { NotConnectedError, type Endpoint } from './endpoint';

/** How long the probe of one endpoint waits; see {@link HangProbe}. */
export interface ProbeTiming {
  /** After this long without an answer, a fresh connection is tried too. */
  readonly freshAfterMs: number;
  /** The longest wait for an answer on the current connection. */
  readonly patienceMs: number;
}

export class HangProbe {
  /** Endpoints with a probe in flight (one at a time per endpoint). */
  private readonly probing = new Set<Endpoint>();
  private closed = false;

  /**
   * @param timing the probe's timing for an endpoint, read when the probe starts
   * @param onDead called when the endpoint's connection is dead or the member does
   *   not answer, with the failure to record
   */
  constructor(
    private readonly timing: (ep: Endpoint) => ProbeTiming,
    private readonly log: Logger,
    private readonly onDead: (ep: Endpoint, failure: NotConnectedError) => void,
  ) {}

  /** True while a probe of `ep` is in flight. */
  isProbing(ep: Endpoint): boolean {
    return this.probing.has(ep);
  }

  /** Probes `ep` unless a probe of it is already in flight; marks it suspect meanwhile. */
  run(ep: Endpoint): void {
    if (this.probing.has(ep) || this.closed) {
      return;
    }
    this.probing.add(ep);
    ep.suspect = true;
    const { freshAfterMs, patienceMs } = this.timing(ep);
    void diagnose({
      statusOnCurrent: timeoutMs => statusAnswered(ep, timeoutMs),
      statusOnFresh: timeoutMs => ep.freshConnection(timeoutMs),
      freshAfterMs,
      patienceMs,
    }).then(d => {
      this.probing.delete(ep);
      if (this.closed) {
        return;
      }
      if (d.kind === 'alive') {
        ep.suspect = false; // it answered: the call was just slow, or waiting on the cluster
        ep.lastAnswerAt = Date.now();
        ep.latency.record(d.rttMs);
        return;
      }
      const reason =
        d.kind === 'dead-connection'
          ? `its connection is silent while a fresh one answers (after ${d.afterMs} ms)`
          : d.kind === 'unreachable'
            ? `its connection is silent and a fresh one is refused (after ${d.afterMs} ms)`
            : `no answer to a status probe within ${d.afterMs} ms`;
      this.log.warn(
        { endpoint: ep.url, reason },
        'endpoint does not answer; rebuilding its channels',
      );
      this.onDead(ep, new NotConnectedError(ep.url, reason));
    });
  }

  /** Stops reporting: probes in flight end without effect. */
  close(): void {
    this.closed = true;
  }
}

/** A status call on `ep`'s current connection: true if the member answered in time. */
function statusAnswered(ep: Endpoint, timeoutMs: number): Promise<boolean> {
  return new Promise(resolve => {
    try {
      (ep.client('Maintenance') as any).status(
        {},
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err: { code?: number } | null) =>
          // Any answer but "no answer in time" or "no connection" shows the member is alive.
          resolve(
            !err || (err.code !== Status.DEADLINE_EXCEEDED && err.code !== Status.UNAVAILABLE),
          ),
      );
    } catch {
      resolve(false); // closed under us
    }
  });
}
