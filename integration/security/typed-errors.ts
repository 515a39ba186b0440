/**
 * What counts as a "typed" error for the hardening tests: one of ours
 * (`ResilientEtcdError` and subclasses), one of etcd3's classes (its gRPC and
 * etcd errors, `ClientClosedError`...), or a cockatiel policy error. A bare
 * TypeError, RangeError or ReferenceError is a bug.
 */
import { isBrokenCircuitError, isTaskCancelledError } from 'cockatiel';
import * as etcd3 from 'etcd3';
import { isResilientEtcdError } from '../../lib/errors';

const etcd3Classes = (Object.values(etcd3) as unknown[]).filter(
  (v): v is new (...args: any[]) => Error =>
    typeof v === 'function' && (v as { prototype?: unknown }).prototype instanceof Error,
);

/** True if `err` is an error the library means to throw. */
export function isTypedError(err: unknown): boolean {
  if (isResilientEtcdError(err) || isBrokenCircuitError(err) || isTaskCancelledError(err)) {
    return true;
  }
  if (!(err instanceof Error)) {
    return false;
  }
  if (err.name === 'NotConnectedError') {
    return true;
  }
  return etcd3Classes.some(C => err instanceof C);
}
