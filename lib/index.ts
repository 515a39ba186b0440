/**
 * etcd3-resilient: a drop-in etcd3 client that never stays broken.
 *
 * Everything `etcd3` exports is exported here under the same names; `Etcd3` is
 * our resilient subclass.
 */
export * from 'etcd3';
export { Etcd3, createClient } from './client';
export type { BreakerEvent, HealthSnapshot, StateChangeEvent } from './client';
export type {
  BreakerOptions, KeepaliveOptions, RebuildOptions, ResilientEtcdOptions, RetryOptions,
} from './options';
export type { BreakerState, EndpointHealth, RebuildEvent } from './pool/endpoint';
export type { CallEvent, RetryEvent } from './pool/resilient-pool';
export type { ChannelState } from './channel/state';
export { retryWrites } from './pool/call-kind';
export {
  DeadlineExceededError, InvalidOptionError, InvalidRecordError, NoEndpointAvailableError,
  ResilientEtcdError, ShutdownTimeoutError, isResilientEtcdError,
} from './errors';
export type { Logger } from './logger';
export type { Event, IDisposable } from 'cockatiel';
