/**
 * Metrics against a real etcd: a real prom-client Registry is scraped while the
 * client works, while its network path dies and heals, while its registration's
 * lease is revoked and while its discovery's watch stream is reset.
 */
import { Etcd3 as RawEtcd3 } from 'etcd3';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../lib/client';
import { discover } from '../../lib/discovery/discovery';
import { instrument } from '../../lib/metrics';
import { register } from '../../lib/registry';
import { startEtcd, startProxy, type EtcdCluster, type FaultProxy } from '../../lib/testing';

const P = 'etcd3_resilient_';
const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms));

/**
 * Sum of the values of series `name` whose labels include `labels`; 0 when there is
 * none. `name` may be a histogram's `_count` or `_sum` series.
 */
async function sample(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const base = name.replace(/_(count|sum)$/, '');
  const metric = registry.getSingleMetric(name) ?? registry.getSingleMetric(base);
  if (!metric) throw new Error(`metric ${name} is not registered`);
  const { values } = await metric.get();
  return values
    .filter(v => ((v as { metricName?: string }).metricName ?? base) === name)
    .filter(v => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}

/** Polls until `check()` resolves true; at most `attempts` × 100 ms. */
async function until(check: () => Promise<boolean>, attempts = 100): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return true;
    await sleep(100);
  }
  return false;
}

describe('Prometheus metrics against a real etcd', () => {
  let cluster: EtcdCluster;
  let proxy: FaultProxy;
  let observer: RawEtcd3;

  beforeAll(async () => {
    cluster = await startEtcd();
    proxy = await startProxy({ target: cluster.endpoints[0] });
    observer = new RawEtcd3({
      hosts: cluster.endpoints,
      grpcOptions: { 'grpc.use_local_subchannel_pool': 1 },
    });
  });
  afterAll(async () => {
    observer?.close();
    await proxy?.close();
    await cluster?.stop();
  });

  it('exposes calls, durations, channel and breaker state of a healthy client in the text format', async () => {
    const client = createClient({ hosts: proxy.endpoint });
    const registry = new Registry();
    const metrics = instrument(client, { registry });
    try {
      for (let i = 0; i < 3; i++) await client.put(`m/k${i}`).value('v');
      expect(await client.get('m/k0').string()).toBe('v');
      expect(await client.get('m/k1').string()).toBe('v');
      const text = await registry.metrics();
      expect(text).toContain(`${P}calls_total{service="KV",method="put",code="OK"} 3`);
      expect(text).toContain(`${P}calls_total{service="KV",method="range",code="OK"} 2`);
      expect(text).toContain(`${P}call_duration_seconds_count{service="KV",method="put"} 3`);
      expect(text).toContain(`${P}breaker_state{endpoint="${proxy.endpoint}"} 0`);
      expect(text).toContain(`${P}channel_state{endpoint="${proxy.endpoint}",state="READY"} 1`);
      expect(text).toContain(
        `${P}channel_state{endpoint="${proxy.endpoint}",state="TRANSIENT_FAILURE"} 0`,
      );
      expect(text).toContain(`${P}healthy 1`);
      expect(text).toMatch(new RegExp(`# HELP ${P}calls_total .+`));
    } finally {
      metrics.dispose();
      await client.close();
    }
  });

  it('shows a dead network path: failed calls by code, rebuilds, unhealthy, open breaker; then recovery', async () => {
    const client = createClient({ hosts: proxy.endpoint });
    const registry = new Registry();
    const metrics = instrument(client, { registry });
    let traffic: Promise<void> | undefined;
    let stop = false;
    try {
      await client.put('m/dead').value('1');
      proxy.blackhole();
      proxy.blackholeNew(true);
      const results = await Promise.allSettled([1, 2, 3].map(() => client.get('m/dead').string()));
      expect(results.every(r => r.status === 'rejected')).toBe(true);
      // An attempt is not cut short (a slow link is not a dead one): with one endpoint
      // each read waits on the silent connection until its deadline, and is not resent
      // to it (no retry round), so the failures show as DEADLINE_EXCEEDED.
      expect(
        await sample(registry, `${P}calls_total`, { method: 'range', code: 'DEADLINE_EXCEEDED' }),
      ).toBe(3);
      expect(await sample(registry, `${P}calls_total`, { method: 'range', code: 'OK' })).toBe(0);
      // Calls keep coming while the path stays dead (as in production). The hang probe
      // finds the connection and a fresh one silent (after its patience, a call
      // deadline): the endpoint is rebuilt, reported unhealthy, and its failures open
      // its breaker (measured: rebuilt ~6.5 s, breaker open ~12.5 s after the fault).
      traffic = (async () => {
        while (!stop) {
          await client
            .get('m/dead')
            .string()
            .catch(() => undefined);
          await sleep(200);
        }
      })();
      const dead = async () =>
        (await sample(registry, `${P}rebuilds_total`)) >= 1 &&
        (await sample(registry, `${P}healthy`)) === 0 &&
        (await sample(registry, `${P}breaker_state`, { endpoint: proxy.endpoint })) === 2;
      expect(await until(dead, 250)).toBe(true);
      expect(
        await sample(registry, `${P}breaker_transitions_total`, { state: 'open' }),
      ).toBeGreaterThanOrEqual(1);
      stop = true;
      await traffic;

      proxy.pass();
      expect(
        await until(async () =>
          client
            .get('m/dead')
            .string()
            .then(
              v => v === '1',
              () => false,
            ),
        ),
      ).toBe(true);
      expect(await until(async () => (await sample(registry, `${P}breaker_state`)) === 0)).toBe(
        true,
      );
      expect(await sample(registry, `${P}channel_state`, { state: 'READY' })).toBe(1);
      expect(await sample(registry, `${P}healthy`)).toBe(1);
    } finally {
      stop = true;
      proxy.pass();
      await traffic;
      metrics.dispose();
      await client.close();
    }
  });

  it('follows a registration through a lease loss and a discovery through a watch resume', async () => {
    const client = createClient({ hosts: proxy.endpoint });
    const registry = new Registry();
    const metrics = instrument(client, { registry });
    const reg = register(client, {
      service: 'metrics-svc',
      id: 'i1',
      addr: '127.0.0.1:7000',
      ttlSeconds: 5,
    });
    const found = discover(client, 'metrics-svc');
    metrics.addRegistration(reg);
    metrics.addDiscovery(found);
    try {
      await reg.ready();
      await found.ready;
      expect(
        await until(
          async () =>
            (await sample(registry, `${P}discovery_instances`, { service: 'metrics-svc' })) === 1,
        ),
      ).toBe(true);
      expect(
        await sample(registry, `${P}registration_up`, { service: 'metrics-svc', id: 'i1' }),
      ).toBe(1);

      // Someone revokes the lease: the registration is lost, re-granted and re-written.
      const leaseId = reg.leaseId!;
      await observer.leaseClient.leaseRevoke({ ID: leaseId });
      expect(
        await until(async () => (await sample(registry, `${P}registration_restored_total`)) === 1),
      ).toBe(true);
      expect(
        await sample(registry, `${P}registration_lost_total`, { service: 'metrics-svc' }),
      ).toBe(1);
      expect(
        await sample(registry, `${P}registration_outage_seconds_count`, { service: 'metrics-svc' }),
      ).toBe(1);
      expect(
        await sample(registry, `${P}registration_up`, { service: 'metrics-svc', id: 'i1' }),
      ).toBe(1);
      expect(reg.leaseId).not.toBe(leaseId);

      // Every connection is reset: the discovery's watch stream breaks and resumes.
      proxy.reset();
      expect(
        await until(async () => (await sample(registry, `${P}discovery_watch_resumes_total`)) >= 1),
      ).toBe(true);
      expect(
        await until(
          async () =>
            (await sample(registry, `${P}discovery_instances`, { service: 'metrics-svc' })) === 1,
        ),
      ).toBe(true);
    } finally {
      metrics.dispose();
      await found.close();
      await reg.close();
      await client.close();
    }
  });
});
