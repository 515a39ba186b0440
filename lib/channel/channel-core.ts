/**
 * The one channel core, shared by the etcd pool's `Endpoint` and `createGrpcClient`'s
 * `ChannelKeeper`: it follows the current generation's grpc-js channels (the re-armed
 * loop of `state-watcher.ts`), asks for a rebuild when one stays CONNECTING past its
 * connect limit (grpc-node#2785) or in TRANSIENT_FAILURE past `transientFailureMs`,
 * spaces rebuilds with `RebuildScheduler` (backoff reset, and a waiting rebuild
 * cancelled, when a channel comes back READY), counts generations and publishes
 * `onStateChange` / `onRebuild` through the library's `Emitter`. Given a `probe`, it
 * also overtakes a stuck attempt of the primary channel (`connect-overtake.ts`): a
 * handshake started into a dead path is rebuilt as soon as a fresh connection gets
 * through, instead of at its (stretched) connect limit.
 *
 * What a rebuild does is the owner's: the core calls `replace()`, which makes the new
 * generation's channels, follows them with {@link ChannelCore.follow}, asks them to
 * connect (grpc-js connects only while a call is pending, grpc-node#2218) and closes
 * the old ones with whatever ran on them.
 */
import { Emitter, type Event } from '../events';
import type { Logger } from '../logger';
import type { RebuildOptions } from '../policy/option-groups';
import { ConnectOvertaker, type PathProbe } from './connect-overtake';
import { RebuildScheduler } from './rebuild-scheduler';
import type { ChannelState } from './state';
import {
  watchChannel,
  type ChannelWatch,
  type UnhealthyReason,
  type WatchableChannel,
} from './state-watcher';
import { installGrpcJsFixes } from '../internals/grpc-js';

/** Rebuild timing, in ms: the `rebuild` option group of both clients, resolved. */
export type RebuildSettings = Readonly<Required<RebuildOptions>>;

/** A state change of the primary channel. */
export interface CoreStateChange {
  readonly from: ChannelState;
  readonly to: ChannelState;
}

/** Why a followed channel is unhealthy: the watcher's reasons, or an attempt overtaken. */
export type CoreUnhealthyReason = UnhealthyReason | 'connect-overtaken';

/** A rebuild that happened. */
export interface CoreRebuild {
  readonly reason: string;
  /** Generation after the rebuild (1 for the first). */
  readonly generation: number;
}

export interface ChannelCoreOptions {
  readonly rebuild: RebuildSettings;
  /** Where state changes (`FROM -> TO`, info), rebuilds and throwing listeners are logged. */
  readonly log: Logger;
  /**
   * Replaces the channels by the current generation's (see the file comment). Returns
   * false to refuse (the owner was closed meanwhile): no rebuild is counted then.
   */
  replace(reason: string): boolean;
  /**
   * Tries a fresh, throwaway connection to the peer (see `connect-overtake.ts`); with
   * it, a primary channel followed with `overtakeEveryMs` has its stuck connection
   * attempts overtaken. Defaults to none (attempts wait for their connect limit).
   */
  readonly probe?: PathProbe;
}

/** How one channel of the current generation is followed. */
export interface FollowOptions {
  /** Ask for a rebuild after this long CONNECTING, in ms. */
  readonly connectTimeoutMs: number;
  /**
   * The generation's main channel: its changes are logged and published, and it gives
   * {@link ChannelCore.state}. Defaults to false.
   */
  readonly primary?: boolean;
  /** Prefix of the rebuild reason, e.g. `KV` gives `KV connect-timeout`. Defaults to none. */
  readonly label?: string;
  /**
   * With `primary` and the core's `probe`: while an attempt is CONNECTING, test the
   * path with a fresh connection after this long and then every this long (one in
   * flight), and rebuild as soon as one gets through (`connect-overtaken`). Defaults
   * to no probing.
   */
  readonly overtakeEveryMs?: number;
  /** Every state change of this channel, before the core's own handling. */
  onStateChange?(from: ChannelState, to: ChannelState): void;
  /** This channel is unhealthy; runs just before the rebuild is asked for. */
  onUnhealthy?(reason: CoreUnhealthyReason, state: ChannelState): void;
}

export class ChannelCore {
  private readonly scheduler: RebuildScheduler;
  /** Probes stuck attempts of the primary channel; defined iff the owner gave a `probe`. */
  private readonly overtaker: ConnectOvertaker | undefined;
  /** What an overtaken attempt of the current primary channel does; set by its follow. */
  private overtaken: (() => void) | undefined;
  /** Watches of the current generation's channels; all stopped at a rebuild. */
  private watches: ChannelWatch[] = [];
  /** The current generation's primary channel watch, once followed. */
  private primaryWatch: ChannelWatch | undefined;
  private stopped = false;
  private readonly stateEmitter: Emitter<CoreStateChange>;
  private readonly rebuildEmitter: Emitter<CoreRebuild>;
  /** Every state change of the primary channel. A throwing listener is logged and ignored. */
  readonly onStateChange: Event<CoreStateChange>;
  /** After each rebuild. A throwing listener is logged and ignored. */
  readonly onRebuild: Event<CoreRebuild>;

  constructor(private readonly options: ChannelCoreOptions) {
    // Every channel the library keeps goes through a core: grpc-js's fixes go in first
    // (lib/internals/grpc-js.ts; once per process, cheap after that).
    installGrpcJsFixes();
    this.stateEmitter = new Emitter('onStateChange', options.log);
    this.rebuildEmitter = new Emitter('onRebuild', options.log);
    this.onStateChange = this.stateEmitter.event;
    this.onRebuild = this.rebuildEmitter.event;
    this.scheduler = new RebuildScheduler(
      options.rebuild,
      options.log,
      reason => this.replace(reason),
      (reason, generation) => this.rebuildEmitter.emit({ reason, generation }),
    );
    this.overtaker =
      options.probe && new ConnectOvertaker(options.probe, options.log, () => this.overtaken?.());
  }

  /** Fresh-connection probes started to overtake stuck attempts (0 without a `probe`). */
  get overtakeProbes(): number {
    return this.overtaker?.probes ?? 0;
  }

  /** Channel generation: 0 at first, one more per rebuild. */
  get generation(): number {
    return this.scheduler.generation;
  }

  get rebuilds(): number {
    return this.scheduler.rebuilds;
  }

  /** The primary channel's watch (state and since), once followed in this generation. */
  get primary(): Pick<ChannelWatch, 'state' | 'since'> | undefined {
    return this.primaryWatch;
  }

  /**
   * Follows `channel`, one of the current generation's. Its callbacks run only while
   * that generation is current (a rebuild stops them); stop it early with the handle.
   */
  follow(channel: WatchableChannel, follow: FollowOptions): ChannelWatch {
    const generation = this.generation;
    const current = () => !this.stopped && generation === this.generation;
    const reason = (r: string) => (follow.label ? `${follow.label} ${r}` : r);
    const overtaker = follow.primary && follow.overtakeEveryMs ? this.overtaker : undefined;
    const watch = watchChannel(channel, {
      log: this.options.log,
      connectTimeoutMs: follow.connectTimeoutMs,
      transientFailureMs: this.options.rebuild.transientFailureMs,
      onStateChange: (from, to) => {
        if (!current()) {
          return;
        }
        follow.onStateChange?.(from, to);
        if (to === 'CONNECTING') {
          overtaker?.connecting(follow.overtakeEveryMs!);
        } else {
          overtaker?.settled();
        }
        if (to === 'READY') {
          this.scheduler.ready();
        }
        if (follow.primary) {
          this.options.log.info(`${from} -> ${to}`);
          this.stateEmitter.emit({ from, to });
        }
      },
      onUnhealthy: (why, state) => {
        if (current()) {
          follow.onUnhealthy?.(why, state);
          this.requestRebuild(reason(why));
        }
      },
    });
    this.watches.push(watch);
    if (follow.primary) {
      this.primaryWatch = watch;
    }
    if (overtaker) {
      this.overtaken = () => {
        if (current()) {
          follow.onUnhealthy?.('connect-overtaken', watch.state);
          this.requestRebuild(reason('connect-overtaken'));
        }
      };
      if (watch.state === 'CONNECTING') {
        overtaker.connecting(follow.overtakeEveryMs!);
      } else {
        overtaker.settled();
      }
    }
    return watch;
  }

  /** Asks for a rebuild; it happens now, or when the rebuild backoff allows. */
  requestRebuild(reason: string): void {
    this.scheduler.request(reason);
  }

  /** Stops following and cancels a waiting rebuild; idempotent. The owner closes the channels. */
  stop(): void {
    this.stopped = true;
    this.scheduler.stop();
    this.overtaker?.stop();
    this.stopWatches();
  }

  private replace(reason: string): boolean {
    // The old generation's callbacks end here, before its channels close.
    this.stopWatches();
    return this.options.replace(reason);
  }

  private stopWatches(): void {
    for (const w of this.watches) {
      w.stop();
    }
    this.watches = [];
    this.primaryWatch = undefined;
    this.overtaker?.settled();
    this.overtaken = undefined;
  }
}

/** `event`, with each value passed through `map` first (a wrapper's own event payload). */
export function mapEvent<A, B>(event: Event<A>, map: (value: A) => B): Event<B> {
  return listener => {
    if (typeof listener !== 'function') {
      throw new TypeError('listener must be a function');
    }
    return event(value => listener(map(value)));
  };
}
