/**
 * Service registration that survives outages: durable leases, Go-compatible
 * records, self-healing, health-following and clean shutdown.
 */
export { register, Registration } from './register';
export type {
  HealedEvent,
  PublishedEvent,
  RegistrationFailedEvent,
  RegistrationLostEvent,
  RegistrationRestoredEvent,
  RegistrationState,
  WithdrawnEvent,
} from './register';
export { defaultInstanceId, DEFAULT_TTL_SECONDS } from './register-options';
export type { RegisterOptions } from './register-options';
export type { HealthCheckOptions } from './health-check';
export { DurableLease } from './durable-lease';
export type {
  DurableLeaseOptions,
  DurableLeaseState,
  KeyHealCause,
  LeaseLossReason,
  LeaseLostEvent,
  LeaseRestoredEvent,
  LeasedKeyState,
} from './durable-lease';
export type { KeyWriteCause } from './leased-keys';
export { MIN_TTL_SECONDS, MAX_TTL_SECONDS } from './lease-options';
export type { BackoffOptions } from '../policy/backoff';
export { installShutdownHandlers } from './shutdown';
export type { Closable, ShutdownHandle, ShutdownOptions, ShutdownResult } from './shutdown';
export { assertJsonSerializable } from './serializable';
