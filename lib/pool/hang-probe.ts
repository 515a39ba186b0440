/**
 * The hang probe: after a call on an endpoint timed out, checks whether the
 * endpoint's connection still answers at all, with a tiny `Maintenance.status` call on
 * the same TCP connection. If that goes unanswered too, the connection is dead (a
 * frozen peer or a silent network path) and `onDead` is told (the pool counts it
 * against the breaker and rebuilds the channels); if it answers, the call was just slow
 * or waiting on the cluster.
 */
import { Metadata, status as Status } from '@grpc/grpc-js';
import type { Logger } from '../logger';
import { describeError } from '../policy/describe-error';
import { NotConnectedError, type Endpoint } from './endpoint';

export class HangProbe {
  /** Endpoints with a probe in flight (one at a time per endpoint). */
  private readonly probing = new Set<Endpoint>();

  /**
   * @param attemptTimeoutMs the pool's attempt timeout; a probe waits half of it, or
   *   three measured round trips on a slow link, whichever is longer
   * @param onDead called when the probe goes unanswered, with the failure to record
   */
  constructor(
    private readonly attemptTimeoutMs: number,
    private readonly log: Logger,
    private readonly onDead: (ep: Endpoint, failure: NotConnectedError) => void,
  ) {}

  /** Probes `ep` unless a probe of it is already in flight; marks it suspect meanwhile. */
  run(ep: Endpoint): void {
    if (this.probing.has(ep)) {
      return;
    }
    this.probing.add(ep);
    ep.suspect = true;
    const client = ep.client('Maintenance') as any;
    // A live connection answers a status call within a round trip; allow for slow links.
    const timeoutMs = Math.max(this.attemptTimeoutMs / 2, 3 * ep.latencyMs);
    client.status(
      {},
      new Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err: { code?: number } | null) => {
        this.probing.delete(ep);
        if (!err || (err.code !== Status.DEADLINE_EXCEEDED && err.code !== Status.UNAVAILABLE)) {
          ep.suspect = false; // it answered: the call was just slow, or waiting on the cluster
          ep.lastAnswerAt = Date.now();
          return;
        }
        // The member itself does not answer: that is a hang, and counts against its breaker.
        this.log.warn(
          { endpoint: ep.url, err: describeError(err) },
          'endpoint does not answer; rebuilding its channels',
        );
        this.onDead(
          ep,
          new NotConnectedError(ep.url, `no answer to a status probe within ${timeoutMs} ms`),
        );
      },
    );
  }
}
