/**
 * Waiting for an endpoint's channel to be READY before a call is sent, following
 * rebuilds (each look reads the endpoint's current client).
 */
import { connectivityState, type Client } from '@grpc/grpc-js';
import { stateName } from '../channel/state';
import { connectFailure } from './connect-failure';
import type { ServiceName } from './endpoint-types';
import { NotConnectedError } from './not-connected';

/** What {@link waitReady} reads of an endpoint. */
export interface ReadyTarget {
  readonly url: string;
  readonly isClosed: boolean;
  readonly generation: number;
  /** Why the last connection attempt failed (TLS, refused...), or the last failure. */
  readonly failureReason: string | undefined;
  /** Why the last connection attempt failed, if the endpoint knows. */
  readonly connectError?: string;
  /** The current generation's client of `service`. */
  client(service: ServiceName): Client;
  /** Remembers why a connection attempt of `generation` failed (ignored once stale). */
  noteConnectError(reason: string | undefined, generation: number): boolean;
}

/**
 * Resolves once `service`'s channel is READY, within `timeoutMs`; kicks it to connect
 * if IDLE. Rejects with `NotConnectedError`. With `failFast`, also rejects as soon as
 * the channel is in TRANSIENT_FAILURE (its last connection attempt failed, e.g.
 * refused): for a caller that has other endpoints to try, waiting out the reconnect
 * backoff here would only delay the call.
 */
export function waitReady(
  target: ReadyTarget,
  service: ServiceName,
  timeoutMs: number,
  failFast = false,
): Promise<Client> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (target.isClosed) {
        return reject(new NotConnectedError(target.url, 'endpoint closed', target.failureReason));
      }
      const client = target.client(service);
      const channel = client.getChannel();
      const state = channel.getConnectivityState(true);
      if (state === connectivityState.READY) {
        return resolve(client);
      }
      if (Date.now() >= deadline) {
        return reject(
          new NotConnectedError(
            target.url,
            `channel ${stateName(state)} after ${timeoutMs} ms`,
            target.failureReason,
          ),
        );
      }
      if (failFast && state === connectivityState.TRANSIENT_FAILURE) {
        return failFastWith(target, client, reject);
      }
      try {
        channel.watchConnectivityState(state, deadline, () => check());
      } catch {
        // Closed under us by a rebuild: look again at the new generation.
        setImmediate(check);
      }
    };
    check();
  });
}

/** Rejects a wait on a channel in TRANSIENT_FAILURE, saying why it failed. */
function failFastWith(target: ReadyTarget, client: Client, reject: (err: Error) => void): void {
  const fail = (reason: string | undefined) =>
    reject(
      new NotConnectedError(
        target.url,
        'connection failed (TRANSIENT_FAILURE)',
        reason ?? target.failureReason,
        true,
      ),
    );
  if (target.connectError) {
    return fail(target.connectError);
  }
  // The state watcher learns the reason asynchronously; a caller failing fast must
  // still say why (a TLS failure is not a refusal). In TRANSIENT_FAILURE grpc-js
  // answers this at once, without touching the network.
  const generation = target.generation;
  void connectFailure(client).then(reason => {
    target.noteConnectError(reason, generation);
    fail(reason);
  });
}
