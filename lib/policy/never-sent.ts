/**
 * "Never sent" is a fact about what an attempt did, not a reading of its message.
 * Shared by the etcd pool and `createGrpcClient`.
 *
 * A gRPC status came from a server (or a proxy or gateway in front of it) exactly
 * when response headers or trailers were received: grpc-js then fills the status'
 * metadata from them, and every HTTP/2 response carries at least `content-type`.
 * Such a status means the request was sent, whatever its code or text: a server
 * application answering `UNAVAILABLE: connect ECONNREFUSED ...` may well have done
 * the work first.
 *
 * A status that grpc-js made up locally has empty metadata. Of those, only the ones
 * that grpc-js produces before a stream was opened (no ready connection, no
 * address, a refused connect) or that HTTP/2 guarantees were not processed
 * (`REFUSED_STREAM`, "Stream refused by server") prove the request never reached a
 * server application.
 */
import { status as Status, type Metadata } from '@grpc/grpc-js';

/** Local grpc-js status details that are only produced before a request was sent. */
const LOCAL_NEVER_SENT =
  /^(No connection established|No addresses resolved|Name resolution failed|Stream refused by server|Channel closed before call started)|(connect|getaddrinfo) (ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)/;

/** The parts of a grpc-js status (or `ServiceError`) the classifier reads. */
export interface StatusLike {
  readonly code?: number;
  readonly details?: string;
  readonly metadata?: Metadata;
}

/** True if headers or trailers were received from a peer (the status is a server's answer). */
export function fromServer(status: StatusLike): boolean {
  const md = status.metadata;
  if (!md || typeof md.getMap !== 'function') {
    return false;
  }
  return Object.keys(md.getMap()).length > 0;
}

/**
 * True if the failed attempt provably never reached a server application: the
 * status is grpc-js's own (no headers or trailers received) and is one grpc-js only
 * gives before a request is sent. `responseSeen` is true when the caller observed
 * response metadata on the attempt (an interceptor); that alone makes it "sent".
 */
export function statusNeverSent(status: StatusLike, responseSeen = false): boolean {
  if (responseSeen || status.code !== Status.UNAVAILABLE || fromServer(status)) {
    return false;
  }
  return LOCAL_NEVER_SENT.test(status.details ?? '');
}
