/**
 * Whether a gRPC attempt started an HTTP/2 stream on a connection, read from the call's
 * peer when its status arrives: grpc-js reports the connection's remote address
 * (`10.0.0.5:2379`, `[::1]:2379`, a unix socket path) once a stream was created on it,
 * and the channel's target URI (`dns:host:port`, `etcd:///svc`) when the call never
 * got that far.
 *
 * This is the fact "never sent" needs when the status metadata is empty: a server or
 * proxy answering trailers-only `grpc-status: 14` without `content-type` (and without
 * `date`) produces a status grpc-js cannot tell from one it made up locally, yet the
 * request did reach it.
 */

const ADDRESS = /^(\d{1,3}(\.\d{1,3}){3}:\d{1,5}|\[[0-9A-Fa-f:.]+(%[^\]]*)?\]:\d{1,5}|\/.*)$/;

/**
 * True if `peer` (from `call.getPeer()`) is a transport address, i.e. a stream was
 * started; false for a target URI, `''` or anything else (unknown: the caller falls
 * back to the status' own facts).
 */
export function streamStarted(peer: unknown): boolean {
  return typeof peer === 'string' && ADDRESS.test(peer);
}

/**
 * {@link streamStarted} read from a grpc-js call object (`call.getPeer()`), when its
 * status arrives; false if there is no call or reading its peer throws. Never throws.
 */
export function callStartedStream(call: unknown): boolean {
  try {
    const getPeer = (call as { getPeer?: unknown } | null | undefined)?.getPeer;
    return typeof getPeer === 'function' && streamStarted(getPeer.call(call));
  } catch {
    return false;
  }
}
