/**
 * The one grpc-js channel stand-in of the tests: its connectivity state changes only
 * when a test calls {@link FakeChannel.transitionToState} (after grpc-js's
 * `MockSubchannel`), or when it is asked to connect while IDLE. It keeps grpc-js
 * 1.14's semantics (`InternalChannel.getConnectivityState`, `watchConnectivityState`
 * and `updateState`):
 *
 * - `getConnectivityState(true)` returns the state it found, then leaves IDLE for
 *   CONNECTING (grpc-js's `exitIdle()`), unless built with `connectOnRequest: false`;
 * - a watcher fires once, synchronously, on the next transition to a state other than
 *   the one it was registered with, and must be re-armed; a finite deadline fires it
 *   with an error;
 * - watching a SHUTDOWN channel throws; `close()` moves to SHUTDOWN (firing watchers).
 *
 * It implements grpc-js's `ChannelInterface`, so a grpc-js `Client` can be built on it
 * (`channelFactoryOverride`, a keeper's channel factory); it cannot make calls:
 * `createCall` throws, which a call sees as the channel being unusable.
 */
import {
  connectivityState,
  type ChannelInterface,
  type ChannelOptions,
  type ChannelCredentials,
} from '@grpc/grpc-js';

interface Watcher {
  current: connectivityState;
  callback: (error?: Error) => void;
  timer?: NodeJS.Timeout;
}

export interface FakeChannelInit {
  /** Channel options it was made with (kept for assertions). Defaults to none. */
  readonly options?: ChannelOptions;
  /** Whether `getConnectivityState(true)` moves IDLE to CONNECTING. Defaults to true. */
  readonly connectOnRequest?: boolean;
  /** Target it reports. Defaults to `fake:///target`. */
  readonly target?: string;
}

export class FakeChannel implements ChannelInterface {
  /** Calls of `getConnectivityState(true)`, i.e. requests to connect. */
  public connectRequests = 0;
  /** True after `close()`. */
  public closed = false;
  public readonly options: ChannelOptions;
  private watchers: Watcher[] = [];
  private readonly connectOnRequest: boolean;
  private readonly target: string;

  constructor(
    private state: connectivityState = connectivityState.IDLE,
    init: FakeChannelInit = {},
  ) {
    this.options = init.options ?? {};
    this.connectOnRequest = init.connectOnRequest ?? true;
    this.target = init.target ?? 'fake:///target';
  }

  /**
   * A channel factory (the shape of grpc-js's `channelFactoryOverride` and of a
   * keeper's factory) that records every channel it makes in `made`.
   */
  static factory(
    made: FakeChannel[],
    init: Omit<FakeChannelInit, 'options' | 'target'> = {},
  ): (target: string, credentials: ChannelCredentials, options: ChannelOptions) => FakeChannel {
    return (target, _credentials, options) => {
      const channel = new FakeChannel(connectivityState.IDLE, { ...init, options, target });
      made.push(channel);
      return channel;
    };
  }

  /** Watchers registered and not fired yet. */
  get pendingWatchers(): number {
    return this.watchers.length;
  }

  /** The current state, without counting a connect request. */
  get currentState(): connectivityState {
    return this.state;
  }

  getConnectivityState(tryToConnect: boolean): connectivityState {
    const found = this.state;
    if (tryToConnect) {
      this.connectRequests++;
      if (this.connectOnRequest && found === connectivityState.IDLE) {
        this.transitionToState(connectivityState.CONNECTING);
      }
    }
    return found;
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
    if (state === this.state || this.state === connectivityState.SHUTDOWN) {
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

  close(): void {
    this.closed = true;
    this.transitionToState(connectivityState.SHUTDOWN);
  }

  getTarget(): string {
    return this.target;
  }

  getChannelzRef(): ReturnType<ChannelInterface['getChannelzRef']> {
    return { kind: 'channel', id: 0, name: 'fake' } as ReturnType<
      ChannelInterface['getChannelzRef']
    >;
  }

  createCall(): ReturnType<ChannelInterface['createCall']> {
    throw new Error('FakeChannel cannot make calls');
  }
}
