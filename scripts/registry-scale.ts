/**
 * Measures the cost of many registrations from one process against a real,
 * throw-away etcd: time to publish, CPU while publishing and in steady state,
 * and what etcd itself counts (LeaseKeepAlive streams and messages, leases,
 * watchers), read from its /metrics endpoint.
 *
 *   npx tsx scripts/registry-scale.ts [--count 1000] [--ttl 10] [--window 20] [--unshared] [--no-heal]
 *
 * Prints one JSON object. Every loop is bounded; the etcd it starts is stopped.
 */
import { createClient } from '../lib/client';
import { register, type Registration } from '../lib/registry';
import { etcdctl, startEtcd } from '../lib/testing';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** Sums every sample of `metric` whose labels contain `labelFilter`. */
async function metric(endpoint: string, name: string, labelFilter = ''): Promise<number> {
  const text = await (await fetch(`${endpoint}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (
      line.startsWith(name) &&
      (line[name.length] === '{' || line[name.length] === ' ') &&
      line.includes(labelFilter)
    ) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

async function serverCounters(endpoint: string) {
  const ka = 'grpc_method="LeaseKeepAlive"';
  return {
    keepaliveStreamsStarted: await metric(endpoint, 'grpc_server_started_total', ka),
    keepaliveMessagesReceived: await metric(endpoint, 'grpc_server_msg_received_total', ka),
    grantsReceived: await metric(endpoint, 'grpc_server_started_total', 'grpc_method="LeaseGrant"'),
    putsReceived: await metric(endpoint, 'grpc_server_started_total', 'grpc_method="Put"'),
    watchers: await metric(endpoint, 'etcd_debugging_mvcc_watcher_total'),
    watchStreams: await metric(endpoint, 'etcd_debugging_mvcc_watch_stream_total'),
  };
}

/** Keys under `scale/`, as etcdctl sees them. */
async function keyCount(endpoints: string[]): Promise<number> {
  const out = (await etcdctl(endpoints, ['get', 'scale/', '--prefix', '--keys-only'])).stdout;
  return out.split('\n').filter(l => l.trim() !== '').length;
}

const cpuMs = (u: NodeJS.CpuUsage) => Math.round((u.user + u.system) / 1000);

async function main(): Promise<void> {
  const count = arg('count', 1000);
  const ttlSeconds = arg('ttl', 10);
  const windowS = arg('window', 20);
  const cluster = await startEtcd({ members: 1 });
  const endpoint = cluster.endpoints[0]!;
  const client = createClient({ hosts: cluster.endpoints });
  const regs: Registration[] = [];
  try {
    const before = await serverCounters(endpoint);
    const cpu0 = process.cpuUsage();
    const t0 = Date.now();
    for (let i = 0; i < count; i++) {
      regs.push(
        register(client, {
          service: 'scale',
          addr: `10.0.${i >> 8}.${i & 255}:8080`,
          id: `i${i}`,
          ttlSeconds,
          sharedLease: !flag('unshared'),
          selfHeal: !flag('no-heal'),
        }),
      );
    }
    await Promise.all(regs.map(r => r.ready()));
    const publishMs = Date.now() - t0;
    const publishCpuMs = cpuMs(process.cpuUsage(cpu0));
    // Let the self-heal watches finish attaching before the steady-state window.
    for (let i = 0; i < 120; i++) {
      const c = await serverCounters(endpoint);
      if (flag('no-heal') || c.watchers - before.watchers >= count) break;
      await sleep(500);
    }
    const attachedMs = Date.now() - t0;
    const mid = await serverCounters(endpoint);
    const cpu1 = process.cpuUsage();
    const rss0 = process.memoryUsage().rss;
    await sleep(windowS * 1000);
    const steadyCpuMs = cpuMs(process.cpuUsage(cpu1));
    const after = await serverCounters(endpoint);
    const keys = await keyCount(cluster.endpoints);
    const leases = Number(
      /found (\d+) leases/.exec(
        (await etcdctl(cluster.endpoints, ['lease', 'list'])).stdout,
      )?.[1] ?? NaN,
    );
    const closeStart = Date.now();
    await Promise.all(regs.map(r => r.close()));
    const closeMs = Date.now() - closeStart;
    const left = await keyCount(cluster.endpoints);
    console.log(
      JSON.stringify(
        {
          count,
          ttlSeconds,
          sharedLease: !flag('unshared'),
          selfHeal: !flag('no-heal'),
          publishMs,
          publishCpuMs,
          watchesAttachedMs: attachedMs,
          keysInEtcd: keys,
          leasesInEtcd: leases,
          steadyWindowS: windowS,
          steadyCpuMs,
          steadyCpuPercentOfOneCore: +(steadyCpuMs / (windowS * 10)).toFixed(2),
          rssMiB: Math.round(rss0 / 2 ** 20),
          server: {
            keepaliveStreamsOpened: after.keepaliveStreamsStarted - before.keepaliveStreamsStarted,
            keepaliveMessagesInWindow:
              after.keepaliveMessagesReceived - mid.keepaliveMessagesReceived,
            keepaliveMessagesPerSecond: +(
              (after.keepaliveMessagesReceived - mid.keepaliveMessagesReceived) /
              windowS
            ).toFixed(2),
            leaseGrants: after.grantsReceived - before.grantsReceived,
            puts: after.putsReceived - before.putsReceived,
            putsInWindow: after.putsReceived - mid.putsReceived,
            watchers: after.watchers - before.watchers,
            watchStreams: after.watchStreams - before.watchStreams,
          },
          closeAllMs: closeMs,
          keysLeftAfterClose: left,
        },
        null,
        2,
      ),
    );
  } finally {
    await Promise.all(regs.map(r => r.close()));
    await client.close();
    await cluster.stop();
  }
}

main().catch(err => {
  console.error(err);
  process.exitCode = 1;
});
