/**
 * A grpc-js channel stand-in whose connectivity state changes only when a test calls
 * {@link FakeChannel.transitionToState} (after grpc-js's `MockSubchannel`). It keeps
 * grpc-js 1.14's watch semantics (`InternalChannel.watchConnectivityState` and
 * `updateState`): a watcher fires once, synchronously, on the next transition to a
 * state other than the one it was registered with, and must be re-armed; a finite
 * deadline fires it with an error; watching a SHUTDOWN channel throws.
 */
import { connectivityState } from '@grpc/grpc-js';
import type { WatchableChannel } from '../../lib/channel/state-watcher';

interface Watcher {
  current: connectivityState;
  callback: (error?: Error) => void;
  timer?: NodeJS.Timeout;
}

export class FakeChannel implements WatchableChannel {
  /** Calls of `getConnectivityState(true)`, i.e. requests to connect. */
  public connectRequests = 0;
  private watchers: Watcher[] = [];

  constructor(private state: connectivityState = connectivityState.IDLE) {}

  /** Watchers registered and not fired yet. */
  get pendingWatchers(): number {
    return this.watchers.length;
  }

  getConnectivityState(tryToConnect: boolean): connectivityState {
    if (tryToConnect) {
      this.connectRequests++;
    }
    return this.state;
  }

  watchConnectivityState(
    current: connectivityState,
    deadline: Date | number,
    callback: (error?: Error) => void,
  ): void {
    if (this.state === connectivityState.SHUTDOWN) {
      throw new Error('Channel has been shut down');
    }
    const watcher: Watcher = { current, callback };
    if (deadline !== Infinity) {
      const ms = (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();
      if (ms <= 0) {
        process.nextTick(callback, new Error('Deadline passed without connectivity state change'));
        return;
      }
      watcher.timer = setTimeout(() => {
        this.watchers = this.watchers.filter(w => w !== watcher);
        callback(new Error('Deadline passed without connectivity state change'));
      }, ms);
    }
    this.watchers.push(watcher);
  }

  /** Moves to `state` and fires (synchronously) every watcher registered with another state. */
  transitionToState(state: connectivityState): void {
    if (state === this.state) {
      return;
    }
    this.state = state;
    const fire = this.watchers.filter(w => w.current !== state);
    this.watchers = this.watchers.filter(w => w.current === state);
    for (const w of fire) {
      clearTimeout(w.timer);
      w.callback();
    }
  }
}
