/**
 * A grpc-js `Channel` that forwards to an inner channel which can be replaced.
 * A grpc-js client is built once on top of it (`channelOverride`), so rebuilding
 * the connection never changes the client object the application holds.
 *
 * Every inner channel uses a local subchannel pool: grpc-js otherwise shares
 * subchannels (and so TCP connections) between channels with equal options, and a
 * "new" channel would inherit the stuck connection it is meant to replace.
 */
import {
  Channel,
  type ChannelCredentials,
  type ChannelInterface,
  type ChannelOptions,
  type connectivityState,
} from '@grpc/grpc-js';

type CreateCallArgs = Parameters<ChannelInterface['createCall']>;

export class SwappableChannel implements ChannelInterface {
  /** The inner channel new calls go to; replaced by {@link swap}. */
  private current: ChannelInterface;
  private closed = false;
  private gen = 0;

  constructor(
    private readonly target: string,
    private readonly credentials: ChannelCredentials,
    private readonly options: ChannelOptions,
    private readonly factory: (
      target: string,
      credentials: ChannelCredentials,
      options: ChannelOptions,
    ) => ChannelInterface = (t, c, o) => new Channel(t, c, o),
  ) {
    this.current = this.make();
  }

  /** The channel calls currently go to. */
  get inner(): ChannelInterface {
    return this.current;
  }

  /** Number of swaps so far. */
  get generation(): number {
    return this.gen;
  }

  /** True after {@link close}. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Replaces the inner channel with a fresh one and returns the old one, which the
   * caller closes (after letting the new one start connecting).
   */
  swap(): ChannelInterface {
    const old = this.current;
    this.gen++;
    this.current = this.make();
    return old;
  }

  close(): void {
    this.closed = true;
    this.current.close();
  }

  getTarget(): string {
    return this.current.getTarget();
  }

  getConnectivityState(tryToConnect: boolean): connectivityState {
    return this.current.getConnectivityState(tryToConnect);
  }

  watchConnectivityState(
    state: connectivityState,
    deadline: Date | number,
    callback: (error?: Error) => void,
  ): void {
    const ch = this.current;
    // When `ch` is swapped out it shuts down, which fires this callback: the caller
    // then reads the state again, from the new channel.
    ch.watchConnectivityState(state, deadline, callback);
  }

  getChannelzRef(): ReturnType<ChannelInterface['getChannelzRef']> {
    return this.current.getChannelzRef();
  }

  createCall(...args: CreateCallArgs): ReturnType<ChannelInterface['createCall']> {
    return this.current.createCall(...args);
  }

  private make(): ChannelInterface {
    return this.factory(this.target, this.credentials, {
      ...this.options,
      'grpc.use_local_subchannel_pool': 1,
    });
  }
}
