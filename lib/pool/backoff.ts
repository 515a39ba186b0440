/** Moved to lib/policy/deadline-backoff.ts (shared by the pool and createGrpcClient). */
export { DeadlineBackoff, type DeadlineOf } from '../policy/deadline-backoff';
