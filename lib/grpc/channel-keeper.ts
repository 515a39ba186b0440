/**
 * Keeps a gRPC client's channel healthy on the one channel core
 * (`channel/channel-core.ts`): the core follows the inner channel's state and decides
 * when to rebuild (CONNECTING past `connectTimeoutMs`, a peer that accepts TCP but
 * never speaks HTTP/2, grpc-node#2785; TRANSIENT_FAILURE past
 * `rebuild.transientFailureMs`; spaced by backoff, reset and a waiting rebuild
 * cancelled once the channel is READY). What is specific here is the
 * {@link SwappableChannel}: a rebuild swaps in a fresh inner channel under the client
 * the application holds, tells it to connect at once (grpc-js only connects while a
 * call is pending, grpc-node#2218) and then closes the old one; calls still queued on
 * the old one fail UNAVAILABLE and are retried.
 */
import type { Event } from 'cockatiel';
import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import { ChannelCore, mapEvent, type RebuildSettings } from '../channel/channel-core';
import type { ChannelState } from '../channel/state';
import type { Logger } from '../logger';
import { SwappableChannel } from './swappable-channel';

/** Emitted on every channel state change. */
export interface GrpcStateChangeEvent {
  readonly target: string;
  readonly from: ChannelState;
  readonly to: ChannelState;
}

/** Emitted after the channel was replaced. */
export interface GrpcRebuildEvent {
  readonly target: string;
  /** `connect-timeout`, `transient-failure` or the reason given to `rebuild()`. */
  readonly reason: string;
  /** Channel generation after the rebuild (1 for the first). */
  readonly generation: number;
}

/** Timing of the keeper, in ms. */
export interface KeeperTiming extends RebuildSettings {
  readonly connectTimeoutMs: number;
}

export class ChannelKeeper {
  readonly channel: SwappableChannel;
  private readonly core: ChannelCore;
  /** Fires on every state change of the current channel. A listener that throws is logged and ignored. */
  readonly onStateChange: Event<GrpcStateChangeEvent>;
  /** Fires after the channel was replaced. A listener that throws is logged and ignored. */
  readonly onRebuild: Event<GrpcRebuildEvent>;

  constructor(
    target: string,
    credentials: ChannelCredentials,
    channelOptions: ChannelOptions,
    private readonly timing: KeeperTiming,
    log: Logger,
    /** Makes each inner channel; grpc-js's `Channel` by default (tests pass fakes). */
    channelFactory?: ConstructorParameters<typeof SwappableChannel>[3],
  ) {
    this.channel = new SwappableChannel(target, credentials, channelOptions, channelFactory);
    this.core = new ChannelCore({ rebuild: timing, log, replace: () => this.replace() });
    this.onStateChange = mapEvent(this.core.onStateChange, e => ({ target, ...e }));
    this.onRebuild = mapEvent(this.core.onRebuild, e => ({ target, ...e }));
    this.follow();
  }

  /** State of the current channel. */
  get state(): ChannelState {
    return this.core.primary?.state ?? 'SHUTDOWN';
  }

  /** `Date.now()` when the current channel entered its state. */
  get since(): number {
    return this.core.primary?.since ?? Date.now();
  }

  get rebuilds(): number {
    return this.core.rebuilds;
  }

  get generation(): number {
    return this.channel.generation;
  }

  /** Asks for a rebuild; it happens now, or when the rebuild backoff allows. */
  requestRebuild(reason: string): void {
    this.core.requestRebuild(reason);
  }

  /** Stops watching; the channel itself is closed by the client. */
  stop(): void {
    this.core.stop();
  }

  private replace(): boolean {
    if (this.channel.isClosed) {
      return false;
    }
    const old = this.channel.swap();
    this.follow();
    this.channel.inner.getConnectivityState(true);
    old.close();
    return true;
  }

  private follow(): void {
    this.core.follow(this.channel.inner, {
      connectTimeoutMs: this.timing.connectTimeoutMs,
      primary: true,
    });
  }
}
