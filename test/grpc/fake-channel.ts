/**
 * A grpc-js channel stand-in whose connectivity state the test drives with
 * `transitionToState()` (as grpc-js's own tests do with MockSubchannel).
 */
import { connectivityState, type ChannelInterface } from '@grpc/grpc-js';

export class FakeChannel implements ChannelInterface {
  state = connectivityState.IDLE;
  closed = false;
  connectRequests = 0;
  private watchers: Array<{ from: connectivityState; cb: (err?: Error) => void }> = [];

  constructor(public readonly options: Record<string, unknown> = {}) {}

  transitionToState(to: connectivityState): void {
    if (this.state === connectivityState.SHUTDOWN) return;
    this.state = to;
    const ready = this.watchers.filter(w => w.from !== to);
    this.watchers = this.watchers.filter(w => w.from === to);
    for (const w of ready) w.cb();
  }

  close(): void {
    this.closed = true;
    this.transitionToState(connectivityState.SHUTDOWN);
  }

  getTarget(): string {
    return 'fake:///target';
  }

  getConnectivityState(tryToConnect: boolean): connectivityState {
    if (tryToConnect) {
      this.connectRequests++;
      if (this.state === connectivityState.IDLE)
        this.transitionToState(connectivityState.CONNECTING);
    }
    return this.state;
  }

  watchConnectivityState(
    current: connectivityState,
    _deadline: Date | number,
    cb: (err?: Error) => void,
  ): void {
    if (this.state === connectivityState.SHUTDOWN && current === connectivityState.SHUTDOWN) {
      throw new Error('The channel has been closed');
    }
    if (current !== this.state) {
      setImmediate(cb);
      return;
    }
    this.watchers.push({ from: current, cb });
  }

  getChannelzRef(): any {
    return { kind: 'channel', id: 0, name: 'fake' };
  }

  createCall(): any {
    throw new Error('FakeChannel cannot make calls');
  }
}
