/**
 * Metrics of the resilient client, fed by its events (calls, retries, rebuilds,
 * breaker transitions) and, at scrape time, by `client.health()` (breaker and
 * channel state per endpoint).
 */
import type { IDisposable } from 'cockatiel';
import type { MetricSet } from './metric-set';
import { BREAKER_STATE_VALUES, CHANNEL_STATES, type InstrumentableClient } from './types';

/** Creates the client metrics in `set` and subscribes to `client`'s events. */
export function instrumentClient(
  client: InstrumentableClient,
  set: MetricSet,
  buckets: number[],
): IDisposable[] {
  const calls = set.counter(
    'calls_total',
    'Unary etcd calls that completed, by outcome (OK or the gRPC status / error code).',
    ['service', 'method', 'code'],
  );
  const duration = set.histogram(
    'call_duration_seconds',
    'Duration of unary etcd calls, retries included, in seconds.',
    ['service', 'method'],
    buckets,
  );
  const retries = set.counter('retries_total', 'Retry rounds of unary etcd calls.', ['method']);
  const rebuilds = set.counter(
    'rebuilds_total',
    "Rebuilds of an endpoint's gRPC channels, by reason.",
    ['endpoint', 'reason'],
  );
  const transitions = set.counter(
    'breaker_transitions_total',
    "Transitions of an endpoint's circuit breaker, by the state entered.",
    ['endpoint', 'state'],
  );
  set.gauge(
    'breaker_state',
    'Circuit breaker state per endpoint: 0 closed, 1 half-open, 2 open.',
    ['endpoint'],
    gauge => {
      gauge.reset();
      for (const ep of client.health().endpoints) {
        gauge.set({ endpoint: ep.endpoint }, BREAKER_STATE_VALUES[ep.breakerState] ?? 2);
      }
    },
  );
  set.gauge(
    'channel_state',
    "gRPC channel state per endpoint: 1 for the endpoint's current state, 0 for the others.",
    ['endpoint', 'state'],
    gauge => {
      gauge.reset();
      for (const ep of client.health().endpoints) {
        for (const state of CHANNEL_STATES) {
          gauge.set({ endpoint: ep.endpoint, state }, ep.channelState === state ? 1 : 0);
        }
      }
    },
  );
  set.gauge(
    'healthy',
    'Whether the client has at least one connected endpoint with a closed breaker (1) or not (0).',
    [],
    gauge => {
      gauge.set(client.health().healthy ? 1 : 0);
    },
  );
  return [
    client.onCall(e => {
      calls.inc({ service: e.service, method: e.method, code: e.code });
      duration.observe({ service: e.service, method: e.method }, e.durationMs / 1000);
    }),
    client.onRetry(e => retries.inc({ method: e.method })),
    client.onRebuild(e => rebuilds.inc({ endpoint: e.endpoint, reason: e.reason })),
    client.onBreakerStateChange(e => transitions.inc({ endpoint: e.endpoint, state: e.state })),
  ];
}
