/**
 * One endpoint's circuit breaker: cockatiel's `CircuitBreakerPolicy` (consecutive
 * failures, half-open after `halfOpenAfterMs`), plus one rule of ours: a fresh
 * connection that comes up READY is evidence that the endpoint is reachable again, so
 * it may end the open period early and let one probe call through (cockatiel's own
 * half-open: one call decides, success closes, failure opens again).
 *
 * What counts as fresh:
 * - any READY, when the breaker opened because the endpoint could not be reached (its
 *   last failure was never sent): the handshake answers exactly that doubt;
 * - a READY of a newer channel generation than the one the breaker opened in (a
 *   rebuild dialled afresh), whatever opened it, e.g. calls lost with a dropped
 *   connection. grpc-js reconnecting the same channel is no news about them.
 *
 * So that a flapping endpoint cannot bypass the breaker forever, an early probe is
 * spent once per failure streak: after an early probe fails, the breaker waits out
 * `halfOpenAfterMs` as usual until a call succeeds and closes it.
 */
import {
  CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  type IBackoff,
} from 'cockatiel';
import { Emitter, type Event } from '../events';
import type { Logger } from '../logger';
import type { ResolvedOptions } from '../options';
import { isEndpointFailure, neverSent } from './classify';
import type { BreakerState } from './endpoint-types';

const BREAKER_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
};

/**
 * cockatiel's half-open delay, read at every call while open: `ms`, or 0 once the
 * open period was released (the next call then becomes the half-open probe).
 */
function halfOpenDelay(ms: number, released: () => boolean): IBackoff<unknown> {
  return {
    get duration() {
      return released() ? 0 : ms;
    },
    next: () => halfOpenDelay(ms, released),
  };
}

export class EndpointBreaker {
  readonly policy: CircuitBreakerPolicy;
  /** `Date.now()` when the breaker last opened. */
  private openedAt = 0;
  /** The breaker opened because the endpoint could not be reached (not because calls failed). */
  private openedForConnectivity = false;
  /** Channel generation current when the breaker last opened. */
  private openedInGeneration = 0;
  /** The current open period was ended early; reset whenever the breaker opens. */
  private released = false;
  /** An early probe was let through since the breaker last closed. */
  private earlyProbeSpent = false;
  private readonly emitter = new Emitter<BreakerState>('onBreakerStateChange');
  /** Fires when the breaker opens, half-opens or closes (after it did). */
  readonly onStateChange: Event<BreakerState> = this.emitter.event;

  /**
   * @param generation the endpoint's current channel generation
   * @param lastError the endpoint's last failure, for the log line when it opens
   */
  constructor(
    private readonly settings: ResolvedOptions['breaker'],
    log: Logger,
    breakerLog: Logger,
    private readonly generation: () => number,
    lastError: () => string | undefined,
  ) {
    this.emitter.setLogger(log);
    this.policy = circuitBreaker(handleWhen(isEndpointFailure), {
      halfOpenAfter: {
        next: () => halfOpenDelay(settings.halfOpenAfterMs, () => this.released),
      },
      breaker: new ConsecutiveBreaker(settings.consecutiveFailures),
    });
    this.policy.onBreak(reason => {
      this.openedAt = Date.now();
      this.openedForConnectivity = 'error' in reason && neverSent(reason.error);
      this.openedInGeneration = this.generation();
      this.released = false;
      breakerLog.warn({ err: lastError() }, 'circuit opened');
      this.emitter.emit('open');
    });
    this.policy.onHalfOpen(() => this.emitter.emit('half-open'));
    this.policy.onReset(() => {
      this.earlyProbeSpent = false;
      breakerLog.info('circuit closed');
      this.emitter.emit('closed');
    });
  }

  /**
   * True if the breaker lets a call through: closed, half-open, or open for longer
   * than `halfOpenAfterMs` or released (cockatiel moves to half-open only when a call
   * arrives).
   */
  get available(): boolean {
    const s = this.policy.state;
    return (
      s === CircuitState.Closed ||
      s === CircuitState.HalfOpen ||
      (s === CircuitState.Open &&
        (this.released || Date.now() - this.openedAt >= this.settings.halfOpenAfterMs))
    );
  }

  get state(): BreakerState {
    return BREAKER_NAMES[this.policy.state];
  }

  /** A channel of generation `generation` to this endpoint became READY. */
  connectionReady(generation: number): void {
    if (this.policy.state !== CircuitState.Open || this.released || this.earlyProbeSpent) {
      return;
    }
    if (this.openedForConnectivity || generation > this.openedInGeneration) {
      this.released = true;
      this.earlyProbeSpent = true;
    }
  }
}
