/**
 * Why a grpc-js channel could not connect (a TLS verification failure, a refused
 * connection, a host name mismatch...). grpc-js keeps that reason only inside the
 * picker of a channel in TRANSIENT_FAILURE and hands it out only as the status of
 * a call that fails there, so a pool that waits for READY before sending would
 * never see it, and every error would just say "TRANSIENT_FAILURE".
 */
import { Metadata, status as Status, type Client } from '@grpc/grpc-js';

/**
 * A method no etcd server implements: if the channel became READY in the meantime,
 * the probe reaches etcd, which answers UNIMPLEMENTED and does nothing.
 */
const PROBE_METHOD = '/etcd3resilient.ConnectProbe/Why';
/** Upper bound of one probe, in ms (in TRANSIENT_FAILURE it fails at once). */
const PROBE_DEADLINE_MS = 1000;
const LAST_ERROR = /Last error: (.*?)(?:\. Resolution note:.*)?$/s;

/**
 * Resolves to the channel's last connection error, e.g. `unable to verify the first
 * certificate`, or undefined when it has none (connected, closed, or no reason given).
 * Sends nothing over the network while the channel is in TRANSIENT_FAILURE.
 */
export function connectFailure(client: Client): Promise<string | undefined> {
  return new Promise(resolve => {
    try {
      client.makeUnaryRequest(
        PROBE_METHOD,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        new Metadata(),
        { deadline: Date.now() + PROBE_DEADLINE_MS },
        err => {
          const details = err?.code === Status.UNAVAILABLE ? err.details : undefined;
          const m = details ? LAST_ERROR.exec(details) : null;
          const reason = m?.[1]?.replace(/^Error: /, '').trim();
          resolve(reason && reason !== 'null' ? reason.slice(0, 300) : undefined);
        },
      );
    } catch {
      resolve(undefined); // the channel was closed (rebuild or close)
    }
  });
}
