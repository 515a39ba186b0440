/**
 * Scale, against a real etcd: one service with 10,000 instances loads in under a
 * second; 1,000 discoveries from one process share one Watch stream (etcd's own
 * /metrics count it). Numbers are printed as `[discovery scale]`.
 */
import { describe, expect, it } from 'vitest';
import { withEtcdClient } from '../shared';
import {
  measureLargeService,
  measureManyServices,
  writeInstances,
} from '../../scripts/discovery-scale';

describe('discovery at scale', () => {
  const fx = withEtcdClient();

  it('loads a service of 10,000 instances in under 1 s, within a 32 MiB heap budget', async () => {
    await writeInstances(fx.client, 'big', 10_000, { zone: 'a', weight: 1 });
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await measureLargeService(fx.client, 'big'));
    const median = [...runs].sort((a, b) => a.readyMs - b.readyMs)[1]!;
    console.log(
      `[discovery scale] 10,000 instances: ready in ${runs.map(r => r.readyMs.toFixed(0)).join(' / ')} ms, ` +
        `heap +${runs.map(r => r.heapMiB.toFixed(1)).join(' / ')} MiB (after GC)`,
    );
    expect(runs.every(r => r.instances === 10_000)).toBe(true);
    // The bound is the requirement itself; measured 120-350 ms on a loaded 2-core box.
    expect(median.readyMs).toBeLessThan(1000);
    expect(median.heapMiB).toBeLessThan(32);
  });

  it('1,000 discoveries from one process share one watch stream', async () => {
    const m = await measureManyServices(fx.client, fx.cluster.endpoints[0]!, 1000);
    console.log(
      `[discovery scale] 1,000 services: ${m.streams} Watch stream open in etcd (${m.streamsOpened} opened), ` +
        `${m.watchers} watchers; listed in ${m.readyMs.toFixed(0)} ms, watching in ${m.allWatchingMs.toFixed(0)} ms; ` +
        `heap +${m.heapMiB.toFixed(1)} MiB; a change reached its discovery in ${m.changeLatencyMs.toFixed(1)} ms`,
    );
    expect(m.streams).toBe(1);
    expect(m.streamsOpened).toBe(1 + m.streamFailures);
    expect(m.watchers).toBe(1000);
    expect(m.changeLatencyMs).toBeLessThan(1000);
    expect(m.heapMiB).toBeLessThan(64);
  });
});
