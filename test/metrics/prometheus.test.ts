import { EventEmitter } from 'cockatiel';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { BreakerEvent, HealthSnapshot } from '../../lib/client';
import { InvalidOptionError, ResilientEtcdError } from '../../lib/errors';
import { instrument, MetricsUnavailableError, type Instrumentation } from '../../lib/metrics';
import { loadPromClient } from '../../lib/metrics/prom-loader';
import type { EndpointHealth, RebuildEvent } from '../../lib/pool/endpoint';
import type { CallEvent, RetryEvent } from '../../lib/pool/resilient-pool';

/** A client with real cockatiel emitters and a settable health snapshot. */
function fakeClient() {
  const calls = new EventEmitter<CallEvent>();
  const retries = new EventEmitter<RetryEvent>();
  const rebuilds = new EventEmitter<RebuildEvent>();
  const breakers = new EventEmitter<BreakerEvent>();
  const ep = (endpoint: string, over: Partial<EndpointHealth> = {}): EndpointHealth => ({
    endpoint,
    channelState: 'READY',
    breakerState: 'closed',
    since: 0,
    generation: 0,
    rebuilds: 0,
    ...over,
  });
  let health: HealthSnapshot = { closed: false, healthy: true, endpoints: [ep('http://a:2379')] };
  return {
    client: {
      onCall: calls.addListener,
      onRetry: retries.addListener,
      onRebuild: rebuilds.addListener,
      onBreakerStateChange: breakers.addListener,
      health: () => health,
    },
    calls,
    retries,
    rebuilds,
    breakers,
    ep,
    setHealth: (h: HealthSnapshot) => (health = h),
  };
}

/** Value of one series, or undefined if the series does not exist. */
async function value(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const match = values.find(
    v =>
      Object.entries(labels).every(([k, l]) => v.labels[k] === l) &&
      Object.keys(v.labels).filter(k => k !== 'le').length === Object.keys(labels).length,
  );
  return match?.value;
}

const P = 'etcd3_resilient_';
let active: Instrumentation[] = [];
afterEach(() => {
  for (const i of active) i.dispose();
  active = [];
});
const track = (i: Instrumentation) => (active.push(i), i);

describe('loadPromClient', () => {
  it('throws MetricsUnavailableError (a ResilientEtcdError) when prom-client cannot be required', () => {
    const missing = Object.assign(new Error("Cannot find module 'prom-client'"), {
      code: 'MODULE_NOT_FOUND',
    });
    let caught: unknown;
    try {
      loadPromClient(() => {
        throw missing;
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(MetricsUnavailableError);
    expect(caught).toBeInstanceOf(ResilientEtcdError);
    expect((caught as MetricsUnavailableError).code).toBe('ERESILIENT_METRICS_UNAVAILABLE');
    expect((caught as Error).message).toContain('npm install prom-client');
    expect((caught as Error).cause).toBe(missing);
  });

  it('rejects a module that is not prom-client', () => {
    expect(() => loadPromClient(() => ({ register: {} }))).toThrow(MetricsUnavailableError);
  });

  it('loads the installed prom-client', () => {
    expect(typeof loadPromClient().Counter).toBe('function');
  });
});

describe('instrument: client metrics', () => {
  it('counts calls by service, method and code, and observes their duration in seconds', async () => {
    const f = fakeClient();
    const registry = new Registry();
    track(instrument(f.client, { registry }));
    f.calls.emit({ service: 'KV', method: 'range', durationMs: 3, code: 'OK' });
    f.calls.emit({ service: 'KV', method: 'range', durationMs: 1500, code: 'OK' });
    f.calls.emit({ service: 'KV', method: 'put', durationMs: 5000, code: 'DEADLINE_EXCEEDED' });
    expect(
      await value(registry, `${P}calls_total`, { service: 'KV', method: 'range', code: 'OK' }),
    ).toBe(2);
    expect(
      await value(registry, `${P}calls_total`, {
        service: 'KV',
        method: 'put',
        code: 'DEADLINE_EXCEEDED',
      }),
    ).toBe(1);
    const text = await registry.metrics();
    expect(text).toContain(`${P}call_duration_seconds_count{service="KV",method="range"} 2`);
    expect(text).toContain(`${P}call_duration_seconds_sum{service="KV",method="range"} 1.503`);
    expect(text).toContain(
      `${P}call_duration_seconds_bucket{le="0.005",service="KV",method="range"} 1`,
    );
    expect(text).toContain(
      `${P}call_duration_seconds_bucket{le="2.5",service="KV",method="range"} 2`,
    );
    expect(text).toContain(`# TYPE ${P}calls_total counter`);
    expect(text).toContain(`# TYPE ${P}call_duration_seconds histogram`);
  });

  it('counts retries, rebuilds and breaker transitions', async () => {
    const f = fakeClient();
    const registry = new Registry();
    track(instrument(f.client, { registry }));
    f.retries.emit({ method: 'range', attempt: 1, delayMs: 50, error: new Error('x') });
    f.retries.emit({ method: 'range', attempt: 2, delayMs: 90, error: new Error('x') });
    f.rebuilds.emit({ endpoint: 'http://a:2379', reason: 'hang', generation: 1 });
    f.breakers.emit({ endpoint: 'http://a:2379', state: 'open' });
    expect(await value(registry, `${P}retries_total`, { method: 'range' })).toBe(2);
    expect(
      await value(registry, `${P}rebuilds_total`, { endpoint: 'http://a:2379', reason: 'hang' }),
    ).toBe(1);
    expect(
      await value(registry, `${P}breaker_transitions_total`, {
        endpoint: 'http://a:2379',
        state: 'open',
      }),
    ).toBe(1);
  });

  it('reads breaker state (0/1/2), channel state (1 for the current one) and health at scrape time', async () => {
    const f = fakeClient();
    const registry = new Registry();
    track(instrument(f.client, { registry }));
    f.setHealth({
      closed: false,
      healthy: false,
      endpoints: [
        f.ep('http://a:2379', { breakerState: 'open', channelState: 'TRANSIENT_FAILURE' }),
        f.ep('http://b:2379', { breakerState: 'half-open', channelState: 'CONNECTING' }),
        f.ep('http://c:2379', { breakerState: 'isolated', channelState: 'IDLE' }),
      ],
    });
    expect(await value(registry, `${P}breaker_state`, { endpoint: 'http://a:2379' })).toBe(2);
    expect(await value(registry, `${P}breaker_state`, { endpoint: 'http://b:2379' })).toBe(1);
    expect(await value(registry, `${P}breaker_state`, { endpoint: 'http://c:2379' })).toBe(2);
    expect(
      await value(registry, `${P}channel_state`, {
        endpoint: 'http://a:2379',
        state: 'TRANSIENT_FAILURE',
      }),
    ).toBe(1);
    expect(
      await value(registry, `${P}channel_state`, { endpoint: 'http://a:2379', state: 'READY' }),
    ).toBe(0);
    expect(await value(registry, `${P}healthy`)).toBe(0);
    // The endpoint set changes (auto-sync): old series disappear.
    f.setHealth({ closed: false, healthy: true, endpoints: [f.ep('http://d:2379')] });
    expect(
      await value(registry, `${P}breaker_state`, { endpoint: 'http://a:2379' }),
    ).toBeUndefined();
    expect(await value(registry, `${P}breaker_state`, { endpoint: 'http://d:2379' })).toBe(0);
    expect(
      await value(registry, `${P}channel_state`, { endpoint: 'http://d:2379', state: 'READY' }),
    ).toBe(1);
    expect(await value(registry, `${P}healthy`)).toBe(1);
  });

  it('uses the given prefix and validates it', async () => {
    const f = fakeClient();
    const registry = new Registry();
    track(instrument(f.client, { registry, prefix: 'myapp_etcd_' }));
    expect(registry.getSingleMetric('myapp_etcd_calls_total')).toBeDefined();
    expect(() => instrument(f.client, { registry, prefix: 'bad-prefix' })).toThrow(
      InvalidOptionError,
    );
    expect(() => instrument(f.client, { registry, callDurationBuckets: [] })).toThrow(
      InvalidOptionError,
    );
  });

  it('refuses to register twice in one registry, leaving the first intact; dispose frees the names', async () => {
    const f = fakeClient();
    const registry = new Registry();
    const first = track(instrument(f.client, { registry }));
    expect(() => instrument(f.client, { registry })).toThrow(/already registered/);
    f.calls.emit({ service: 'KV', method: 'range', durationMs: 1, code: 'OK' });
    expect(
      await value(registry, `${P}calls_total`, { service: 'KV', method: 'range', code: 'OK' }),
    ).toBe(1);
    first.dispose();
    first.dispose(); // idempotent
    expect(registry.getSingleMetric(`${P}calls_total`)).toBeUndefined();
    expect(f.calls.size).toBe(0); // unsubscribed
    track(instrument(f.client, { registry }));
    expect(registry.getSingleMetric(`${P}calls_total`)).toBeDefined();
  });

  it("uses prom-client's global registry by default", () => {
    const f = fakeClient();
    const i = track(instrument(f.client, { prefix: 'etcd3_resilient_unit_default_' }));
    expect(i.registry).toBe(loadPromClient().register);
  });
});

describe('instrument: registration and discovery metrics', () => {
  function fakeRegistration(service: string, id: string) {
    const lost = new EventEmitter<{
      key: string;
      leaseId: string;
      reason: 'expired' | 'keepalive-timeout' | 'not-found';
    }>();
    const restored = new EventEmitter<{ key: string; leaseId: string; outageMs: number }>();
    const reg = {
      instance: { service, id, addr: '10.0.0.1:80', metadata: null },
      state: 'published' as 'published' | 'lost',
      onLost: lost.addListener,
      onRestored: restored.addListener,
    };
    return { reg, lost, restored };
  }

  it('follows lease losses, re-grants, outage time and whether the instance is published', async () => {
    const f = fakeClient();
    const registry = new Registry();
    const metrics = track(instrument(f.client, { registry }));
    const r = fakeRegistration('orders', 'i1');
    const handle = metrics.addRegistration(r.reg);
    expect(await value(registry, `${P}registration_up`, { service: 'orders', id: 'i1' })).toBe(1);
    r.reg.state = 'lost';
    r.lost.emit({ key: 'orders/i1', leaseId: '1', reason: 'keepalive-timeout' });
    expect(await value(registry, `${P}registration_up`, { service: 'orders', id: 'i1' })).toBe(0);
    r.reg.state = 'published';
    r.restored.emit({ key: 'orders/i1', leaseId: '2', outageMs: 7500 });
    expect(
      await value(registry, `${P}registration_lost_total`, {
        service: 'orders',
        reason: 'keepalive-timeout',
      }),
    ).toBe(1);
    expect(await value(registry, `${P}registration_restored_total`, { service: 'orders' })).toBe(1);
    const text = await registry.metrics();
    expect(text).toContain(`${P}registration_outage_seconds_sum{service="orders"} 7.5`);
    expect(text).toContain(`${P}registration_outage_seconds_bucket{le="10",service="orders"} 1`);
    expect(text).toContain(`${P}registration_outage_seconds_bucket{le="5",service="orders"} 0`);
    handle.dispose();
    expect(
      await value(registry, `${P}registration_up`, { service: 'orders', id: 'i1' }),
    ).toBeUndefined();
    expect(r.lost.size).toBe(0);
  });

  it("reports discovered instances, re-lists, and watch resumes taken from the discovery's counters", async () => {
    const f = fakeClient();
    const registry = new Registry();
    const resync = new EventEmitter<{ reason: string }>();
    let stats = { instances: 3, revision: 10, resyncs: 0, duplicatesDropped: 0, disconnects: 2 };
    const d = { service: 'orders', stats: () => stats, onResync: resync.addListener };
    track(instrument(f.client, { registry, discoveries: [d] }));
    expect(await value(registry, `${P}discovery_instances`, { service: 'orders' })).toBe(3);
    // Disconnects before instrumenting are not counted; later ones are.
    expect(
      await value(registry, `${P}discovery_watch_resumes_total`, { service: 'orders' }),
    ).toBeUndefined();
    stats = { ...stats, instances: 2, disconnects: 5 };
    resync.emit({ reason: 'compacted' });
    expect(await value(registry, `${P}discovery_instances`, { service: 'orders' })).toBe(2);
    expect(await value(registry, `${P}discovery_watch_resumes_total`, { service: 'orders' })).toBe(
      3,
    );
    expect(await value(registry, `${P}discovery_watch_resumes_total`, { service: 'orders' })).toBe(
      3,
    );
    expect(await value(registry, `${P}discovery_resyncs_total`, { service: 'orders' })).toBe(1);
  });
});
