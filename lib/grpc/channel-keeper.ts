/**
 * Keeps a gRPC client's channel healthy: follows the inner channel's connectivity
 * state (the re-armed loop of channel/state-watcher.ts) and swaps in a fresh
 * channel when it stays CONNECTING past `connectTimeoutMs` (a peer that accepts
 * TCP but never speaks HTTP/2, grpc-node#2785) or in TRANSIENT_FAILURE past
 * `rebuild.transientFailureMs`. Rebuilds are spaced by exponential backoff, reset
 * once the channel is READY. The new channel is told to connect at once (grpc-js
 * only connects while a call is pending, grpc-node#2218) before the old one is
 * closed; calls still queued on the old one fail UNAVAILABLE and are retried.
 */
import type { Event } from 'cockatiel';
import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import { watchChannel, type ChannelWatch } from '../channel/state-watcher';
import type { ChannelState } from '../channel/state';
import type { Logger } from '../logger';
import { Emitter } from '../events';
import { Backoff } from '../policy/backoff';
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

/** Timing of the keeper. */
export interface KeeperTiming {
  readonly connectTimeoutMs: number;
  readonly transientFailureMs: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

export class ChannelKeeper {
  readonly channel: SwappableChannel;
  private watch: ChannelWatch | undefined;
  /** Spaces rebuilds; reset once the channel is READY. */
  private readonly backoff: Backoff;
  /** `Date.now()` before which no rebuild may happen. */
  private notBefore = 0;
  private pending: { timer: NodeJS.Timeout; reason: string } | undefined;
  private rebuildCount = 0;
  private stopped = false;
  private readonly stateEmitter: Emitter<GrpcStateChangeEvent>;
  private readonly rebuildEmitter: Emitter<GrpcRebuildEvent>;
  /** Fires on every state change of the current channel. A listener that throws is logged and ignored. */
  readonly onStateChange: Event<GrpcStateChangeEvent>;
  /** Fires after the channel was replaced. A listener that throws is logged and ignored. */
  readonly onRebuild: Event<GrpcRebuildEvent>;

  constructor(
    private readonly target: string,
    credentials: ChannelCredentials,
    channelOptions: ChannelOptions,
    private readonly timing: KeeperTiming,
    private readonly log: Logger,
    /** Makes each inner channel; grpc-js's `Channel` by default (tests pass fakes). */
    channelFactory?: ConstructorParameters<typeof SwappableChannel>[3],
  ) {
    this.stateEmitter = new Emitter('grpc.stateChange', log);
    this.rebuildEmitter = new Emitter('grpc.rebuild', log);
    this.onStateChange = this.stateEmitter.event;
    this.onRebuild = this.rebuildEmitter.event;
    this.backoff = new Backoff({
      initialDelayMs: Math.max(1, timing.initialBackoffMs),
      maxDelayMs: Math.max(1, timing.maxBackoffMs),
    });
    this.channel = new SwappableChannel(target, credentials, channelOptions, channelFactory);
    this.follow();
  }

  /** State of the current channel. */
  get state(): ChannelState {
    return this.watch?.state ?? 'SHUTDOWN';
  }

  /** `Date.now()` when the current channel entered its state. */
  get since(): number {
    return this.watch?.since ?? Date.now();
  }

  get rebuilds(): number {
    return this.rebuildCount;
  }

  get generation(): number {
    return this.channel.generation;
  }

  /** Asks for a rebuild; it happens now, or when the rebuild backoff allows. */
  requestRebuild(reason: string): void {
    if (this.stopped || this.pending) {
      return;
    }
    const wait = this.notBefore - Date.now();
    if (wait <= 0) {
      this.rebuild(reason);
      return;
    }
    const timer = setTimeout(() => {
      this.pending = undefined;
      this.rebuild(reason);
    }, wait);
    timer.unref();
    this.pending = { timer, reason };
  }

  /** Stops watching; the channel itself is closed by the client. */
  stop(): void {
    this.stopped = true;
    this.watch?.stop();
    if (this.pending) {
      clearTimeout(this.pending.timer);
      this.pending = undefined;
    }
  }

  private rebuild(reason: string): void {
    if (this.stopped || this.channel.isClosed) {
      return;
    }
    this.watch?.stop();
    const old = this.channel.swap();
    this.rebuildCount++;
    const delay = this.backoff.next();
    this.notBefore = Date.now() + delay;
    this.log.warn(
      { reason, generation: this.channel.generation, nextRebuildNotBeforeMs: Math.round(delay) },
      'rebuilding gRPC channel',
    );
    this.follow();
    this.channel.inner.getConnectivityState(true);
    old.close();
    this.rebuildEmitter.emit({ target: this.target, reason, generation: this.channel.generation });
  }

  private follow(): void {
    const inner = this.channel.inner;
    this.watch = watchChannel(inner, {
      connectTimeoutMs: this.timing.connectTimeoutMs,
      transientFailureMs: this.timing.transientFailureMs,
      onStateChange: (from, to) => {
        if (inner !== this.channel.inner) {
          return;
        }
        this.log.info(`${from} -> ${to}`);
        if (to === 'READY') {
          this.backoff.reset();
          this.notBefore = 0;
        }
        this.stateEmitter.emit({ target: this.target, from, to });
      },
      onUnhealthy: reason => {
        if (inner === this.channel.inner) {
          this.requestRebuild(reason);
        }
      },
    });
  }
}
