/**
 * Follows a grpc-js channel's connectivity state in a re-armed
 * `watchConnectivityState` loop and reports when the channel is unhealthy:
 * TRANSIENT_FAILURE for longer than `transientFailureMs`, or CONNECTING for
 * longer than `connectTimeoutMs` (grpc-js has no connect-attempt timeout, so a
 * peer that accepts TCP but never speaks HTTP/2 would keep it CONNECTING forever,
 * grpc-node#2785). IDLE is not a failure: the next call reconnects.
 */
import { connectivityState } from '@grpc/grpc-js';
import { noopLogger, type Logger } from '../logger';
import { describeError } from '../policy/describe-error';

/** The part of a grpc-js channel that is watched (a real `Channel`, or a fake in tests). */
export interface WatchableChannel {
  getConnectivityState(tryToConnect: boolean): connectivityState;
  watchConnectivityState(
    current: connectivityState,
    deadline: Date | number,
    callback: (error?: Error) => void,
  ): void;
}
import { ChannelState, stateName } from './state';

/** Why a channel is reported unhealthy. */
export type UnhealthyReason = 'connect-timeout' | 'transient-failure';

export interface ChannelWatchOptions {
  /** Report a channel CONNECTING this long. */
  connectTimeoutMs: number;
  /** Report a channel in TRANSIENT_FAILURE this long. */
  transientFailureMs: number;
  /** Called on every state change. */
  onStateChange?(from: ChannelState, to: ChannelState): void;
  /** Called once per unhealthy period (again only after the state changes). */
  onUnhealthy(reason: UnhealthyReason, state: ChannelState): void;
  /**
   * Where a throwing callback is reported (at `error`). A throw never reaches grpc-js
   * and never stops the watch. Defaults to no logging.
   */
  log?: Logger;
}

/** Handle of a watched channel. */
export interface ChannelWatch {
  /** Current state. */
  readonly state: ChannelState;
  /** `Date.now()` when the channel entered its current state. */
  readonly since: number;
  /** Stops watching; no callback fires afterwards. */
  stop(): void;
}

/** Starts watching `channel`. Stops by itself when the channel shuts down. */
export function watchChannel(
  channel: WatchableChannel,
  options: ChannelWatchOptions,
): ChannelWatch {
  let current = channel.getConnectivityState(false);
  let since = Date.now();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  /** Runs a callback; its throw is logged and dropped (the library's one listener rule). */
  const safely = (name: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      try {
        (options.log ?? noopLogger).error(
          { event: name, err: describeError(err) },
          'channel state listener threw; ignored',
        );
      } catch {
        // A broken logger must not break the watch either.
      }
    }
  };

  const arm = () => {
    clearTimeout(timer);
    timer = undefined;
    const limit =
      current === connectivityState.CONNECTING
        ? options.connectTimeoutMs
        : current === connectivityState.TRANSIENT_FAILURE
          ? options.transientFailureMs
          : undefined;
    if (limit !== undefined) {
      const reason: UnhealthyReason =
        current === connectivityState.CONNECTING ? 'connect-timeout' : 'transient-failure';
      timer = setTimeout(() => {
        if (!stopped) {
          safely('onUnhealthy', () => options.onUnhealthy(reason, stateName(current)));
        }
      }, limit);
      timer.unref();
    }
  };

  const loop = () => {
    if (stopped || current === connectivityState.SHUTDOWN) {
      return;
    }
    try {
      // Deadline Infinity: the callback fires on the next change only, so re-arm it each time.
      channel.watchConnectivityState(current, Infinity, err => {
        if (stopped || err) {
          return;
        }
        const next = channel.getConnectivityState(false);
        const from = current;
        current = next;
        if (next !== from) {
          since = Date.now();
          arm();
        }
        // Re-arm before telling anyone: whatever the listener does, tracking goes on.
        loop();
        if (next !== from && options.onStateChange) {
          const listener = options.onStateChange;
          safely('onStateChange', () => listener(stateName(from), stateName(next)));
        }
      });
    } catch {
      // grpc-js throws once the channel is closed: nothing more to watch.
      stopped = true;
      clearTimeout(timer);
    }
  };

  arm();
  loop();
  return {
    get state() {
      return stateName(current);
    },
    get since() {
      return since;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
