/**
 * What an etcd endpoint does when one of its service channels changes state or is
 * found unhealthy (the channel core's `onStateChange` / `onUnhealthy` hooks), and the
 * connect timing those changes drive: the connect limit that stretches with the link
 * and doubles after each connect timeout in a row, and how often a stuck attempt is
 * checked against a fresh connection (`channel/connect-overtake.ts`).
 */
import type { Client } from '@grpc/grpc-js';
import type { CoreUnhealthyReason } from '../channel/channel-core';
import type { ChannelState } from '../channel/state';
import { connectFailure } from './connect-failure';
import type { ServiceName } from './endpoint-types';
import type { LatencyTracker } from './latency';
import { NotConnectedError } from './not-connected';

/** The part of an `Endpoint` the hooks read and change. */
export interface HookedEndpoint {
  readonly url: string;
  readonly generation: number;
  readonly latency: LatencyTracker;
  readonly failureReason: string | undefined;
  connectError?: string;
  suspect: boolean;
  noteConnectError(reason: string | undefined, generation: number): boolean;
  recordFailure(err: unknown): void;
}

/** What the hooks ask of their endpoint beyond its state. */
export interface HookActions {
  /** A channel of `generation` is READY (the breaker may release early). */
  connectionReady(generation: number): void;
  /** Connects the KV channel again (it went IDLE). */
  dial(): void;
}

export class ChannelHooks {
  /** `Date.now()` when the KV channel last entered CONNECTING (0: never). */
  private connectingAt = 0;
  /** Connect timeouts in a row since the last READY; each doubles the next limit (at most 4x). */
  private connectTimeouts = 0;

  constructor(
    private readonly ep: HookedEndpoint,
    private readonly connectTimeoutMs: number,
    private readonly actions: HookActions,
  ) {}

  /**
   * The longest a connection attempt may stay CONNECTING before the channel is rebuilt:
   * `connectTimeoutMs`, or two recent round trips if that is longer (an HTTP/2 handshake
   * takes at least one), doubled for each connect timeout in a row (at most 4x), so a
   * link slower than the limit still gets a connection up on the second or third try.
   */
  connectLimitMs(): number {
    return (
      Math.max(this.connectTimeoutMs, 2 * this.rttMs()) * 2 ** Math.min(this.connectTimeouts, 2)
    );
  }

  /**
   * How often a connection attempt that is still CONNECTING is checked against a fresh
   * connection (and how long each check waits): a quarter of `connectTimeoutMs`, or two
   * recent round trips if that is longer (a fresh handshake needs about that). On a
   * link slower than this the checks stay silent and change nothing.
   */
  overtakeEveryMs(): number {
    return Math.max(this.connectTimeoutMs / 4, 2 * this.rttMs());
  }

  /** A state change of `service`'s channel of `generation` (`client` is built on it). */
  stateChanged(
    service: ServiceName,
    client: Client,
    generation: number,
    from: ChannelState,
    to: ChannelState,
  ): void {
    const ep = this.ep;
    if (to === 'TRANSIENT_FAILURE') {
      // Learn why (a TLS failure must say so, not just "TRANSIENT_FAILURE").
      void connectFailure(client).then(reason => {
        if (ep.noteConnectError(reason, generation)) {
          ep.recordFailure(`connection failed: ${reason}`);
        }
      });
    }
    if (service === 'KV' && to === 'CONNECTING') {
      this.connectingAt = Date.now();
    }
    if (service === 'KV' && to === 'READY' && from === 'CONNECTING' && this.connectingAt > 0) {
      // The TCP and HTTP/2 handshakes take about a round trip.
      ep.latency.record(Date.now() - this.connectingAt);
    }
    if (to === 'READY') {
      ep.connectError = undefined;
      this.connectTimeouts = 0;
      if (service === 'KV') {
        // A fresh handshake on the calls' channel. (Another service's channel turns
        // READY at once on the shared connection, even to a frozen member: no news.)
        ep.suspect = false;
      }
      this.actions.connectionReady(generation);
    }
    if (service === 'KV' && to === 'IDLE') {
      setImmediate(() => {
        if (generation === ep.generation) {
          this.actions.dial();
        }
      });
    }
  }

  /** A channel was found unhealthy; the core asks for a rebuild next. */
  unhealthy(reason: CoreUnhealthyReason, state: ChannelState): void {
    if (reason === 'connect-timeout') {
      this.connectTimeouts++;
    }
    const why =
      reason === 'connect-overtaken'
        ? 'connection attempt silent while a fresh connection got through'
        : `channel ${state} too long`;
    this.ep.recordFailure(new NotConnectedError(this.ep.url, why, this.ep.failureReason));
  }

  private rttMs(): number {
    return this.ep.latency.quantile(0.99) ?? 0;
  }
}
