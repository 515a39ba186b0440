/**
 * Errors that repeating a call cannot fix: the server understood the request and
 * refused it for a reason that stays true (no permission, bad credentials, an
 * invalid request). Loops that otherwise retry forever (registration writes, lease
 * grants) stop on these and report them. Checked by class name as well as
 * `instanceof`, so duplicate etcd3 copies still match.
 */
import {
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  EtcdRoleNotGrantedError,
  EtcdUserNotFoundError,
  GRPCInvalidArgumentError,
} from 'etcd3';

const PERMANENT: ReadonlyArray<new (...args: never[]) => Error> = [
  EtcdPermissionDeniedError,
  EtcdAuthenticationFailedError,
  EtcdRoleNotGrantedError,
  EtcdUserNotFoundError,
  GRPCInvalidArgumentError,
];
const NAMES = new Set(PERMANENT.map(c => c.name));

/**
 * True when retrying the failed call cannot succeed until someone changes etcd's
 * configuration (users, roles, permissions) or the request. Not included, because
 * they heal by themselves: expired auth tokens (etcd3 re-authenticates), "auth
 * store revision is old" (FailedPrecondition), unavailability and deadlines.
 */
export function isPermanentError(err: unknown): boolean {
  if (!(err instanceof Error)) {
    return false;
  }
  if (PERMANENT.some(c => err instanceof c)) {
    return true;
  }
  try {
    return NAMES.has(err.constructor?.name) || NAMES.has(err.name);
  } catch {
    return false;
  }
}
