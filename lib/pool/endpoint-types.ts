/**
 * Types of one etcd endpoint, as the pool, the client's `health()` and the metrics
 * see it.
 */
import type { ChannelState } from '../channel/state';
import type { Services } from '../internals/etcd3';

/** An etcd gRPC service, by its etcd3 client name (`KV`, `Watch`, `Lease`...). */
export type ServiceName = keyof typeof Services;

/** A breaker's state, by name. */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

/** Health of one endpoint, as reported by `client.health()`. */
export interface EndpointHealth {
  /** The endpoint as configured, e.g. `http://127.0.0.1:2379`. */
  readonly endpoint: string;
  /** State of its KV channel (the one unary calls use). */
  readonly channelState: ChannelState;
  /** State of its circuit breaker. */
  readonly breakerState: BreakerState;
  /** `Date.now()` when the channel entered its current state. */
  readonly since: number;
  /** Message of the last failure (secrets redacted), if any. */
  readonly lastError?: string;
  /** `Date.now()` of the last failure, if any. */
  readonly lastErrorAt?: number;
  /** Channel generation; grows by one per rebuild. */
  readonly generation: number;
  /** Rebuilds so far. */
  readonly rebuilds: number;
}

/** Emitted when an endpoint's channels are rebuilt. */
export interface RebuildEvent {
  readonly endpoint: string;
  readonly reason: string;
  readonly generation: number;
}

/** Something opened on a channel that must end when the channel is rebuilt. */
export interface Cancellable {
  cancel(): void;
}
