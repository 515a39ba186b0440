/**
 * etcd3-resilient: a drop-in etcd3 client that never stays broken.
 *
 * Everything `etcd3` exports is exported here under the same names; `Etcd3` is
 * our resilient subclass.
 */
export * from 'etcd3';
export { Etcd3, createClient } from './client';
export {
  OwnedLease,
  OwnedLock,
  OwnedElection,
  OwnedCampaign,
  OwnedElectionObserver,
  OwnershipEndedError,
  type CampaignOptions,
  type ElectionGap,
  type ElectionLeader,
  type OwnershipEnd,
} from './lease';
export type { BreakerEvent, HealthSnapshot, StateChangeEvent, WatchRewind } from './client';
export type {
  BreakerOptions,
  KeepaliveOptions,
  RebuildOptions,
  ResilientEtcdOptions,
  RetryOptions,
} from './options';
export type { BreakerState, EndpointHealth, RebuildEvent } from './pool/endpoint';
export type { CallEvent, RetryEvent } from './pool/resilient-pool';
export type { ChannelState } from './channel/state';
export { retryWrites } from './policy/retry-writes';
export {
  DeadlineExceededError,
  InvalidOptionError,
  InvalidRecordError,
  InvalidTtlError,
  NoEndpointAvailableError,
  ResilientEtcdError,
  ShutdownTimeoutError,
  isResilientEtcdError,
} from './errors';
export { WriteOutcomeUnknownError, isWriteOutcomeUnknown } from './errors';
// Cancellation: `signal` in call options (the imports declare it on etcd3's and grpc-js's types).
export { AbortError, isAbortError } from './policy/abort';
import './cancel/watch';
import './cancel/election';
// Tracing: the `tracerProvider` option.
export type { TracerProviderLike } from './tracing/otel';
export type { Logger } from './logger';
export type { Event, IDisposable } from 'cockatiel';

// Service registration and discovery.
export * from './registry';
export { discover, Discovery } from './discovery/discovery';
export type { DiscoveryStats, InstanceUpdate, ResyncEvent } from './discovery/discovery';
export type { DiscoveryOptions } from './discovery/options';
export type { InvalidRecord } from './discovery/instance-set';
export { goNamingCodec } from './service-record';
export type { RecordCodec, ServiceInstance } from './service-record';

// gRPC service-to-service calls.
export { registerEtcdResolver } from './grpc/resolver';
export type { EtcdResolverOptions } from './grpc/resolver';
export { createGrpcClient } from './grpc/create-client';
export type {
  GrpcBreakerState,
  GrpcClientHealth,
  GrpcClientResilience,
  GrpcRetryEvent,
  ResilientGrpcClient,
  ServiceClientConstructor,
} from './grpc/create-client';
export type { GrpcClientOptions } from './grpc/client-options';
export type { GrpcRebuildEvent, GrpcStateChangeEvent } from './grpc/channel-keeper';

// Prometheus metrics (needs the optional peer dependency prom-client when used).
export { instrument, MetricsUnavailableError } from './metrics';
export type {
  InstrumentOptions,
  Instrumentation,
  InstrumentableClient,
  InstrumentableDiscovery,
  InstrumentableRegistration,
  MetricsRegistry,
} from './metrics';
