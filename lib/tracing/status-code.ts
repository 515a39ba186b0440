/**
 * The gRPC status code (`rpc.grpc.status_code`) of a failed call, when the caller does
 * not know it: from the error's numeric `code` (a grpc-js `ServiceError`), else from
 * etcd3's typed error classes and our own errors.
 */
import { isAbortError } from '../policy/abort';

/** etcd3's error class names and the gRPC codes they stand for. */
const BY_NAME: Readonly<Record<string, number>> = {
  AbortError: 1,
  GRPCCancelledError: 1,
  ClientClosedError: 1,
  GRPCUnknownError: 2,
  GRPCInvalidArgumentError: 3,
  GRPCDeadlineExceededError: 4,
  GRPCNotFoundError: 5,
  EtcdLeaseInvalidError: 5,
  GRPCAlreadyExistsError: 6,
  EtcdPermissionDeniedError: 7,
  GRPCResourceExhastedError: 8,
  GRPCFailedPreconditionError: 9,
  GRPCAbortedError: 10,
  GRPCOutOfRangeError: 11,
  GRPCNotImplementedError: 12,
  GRPCInternalError: 13,
  GRPCUnavailableError: 14,
  GRPCDataLossError: 15,
  GRPCUnauthenticatedError: 16,
  EtcdInvalidAuthTokenError: 16,
  EtcdAuthenticationFailedError: 3,
};

/** Our errors' codes and the gRPC codes that describe them best. */
const BY_CODE: Readonly<Record<string, number>> = {
  ABORT_ERR: 1,
  ERESILIENT_DEADLINE: 4,
  ERESILIENT_NO_ENDPOINT: 14,
};

/** The gRPC status code for `err`; 2 (UNKNOWN) when nothing better is known. */
export function grpcStatusCodeOf(err: unknown): number {
  if (isAbortError(err)) {
    return 1;
  }
  const e = err as { code?: unknown } | null | undefined;
  if (typeof e?.code === 'number' && Number.isInteger(e.code) && e.code >= 0 && e.code <= 16) {
    return e.code;
  }
  if (typeof e?.code === 'string' && BY_CODE[e.code] !== undefined) {
    return BY_CODE[e.code];
  }
  // By class, walking up the prototype chain (subclasses of etcd3's classes count too).
  for (let p = e ? Object.getPrototypeOf(e) : null; p && p !== Error.prototype;) {
    const code = BY_NAME[p.constructor?.name];
    if (code !== undefined) {
      return code;
    }
    p = Object.getPrototypeOf(p);
  }
  return 2;
}
