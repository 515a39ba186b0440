/**
 * `npm run demo`: a narrated tour of etcd3-resilient against a real, local
 * 3-member etcd cluster. It kills, freezes and cuts off etcd and a service while
 * traffic flows, and shows the client, the registration and the discovery heal on
 * their own. Exits by itself in well under a minute and cleans up.
 */
import * as net from 'node:net';
import { createClient, discover, register, type Etcd3 } from '../lib';
import { startEtcd, startProxy, type EtcdCluster, type FaultProxy } from '../lib/testing';

const t0 = Date.now();
const say = (msg: string) =>
  console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${msg}`);
const sleep = (ms: number) => new Promise<void>(r => setTimeout(r, ms));

/** A tiny TCP service standing in for an `orders` gRPC server. */
async function listen(port = 0): Promise<net.Server> {
  const server = net.createServer(s => s.end());
  await new Promise<void>(r => server.listen(port, '127.0.0.1', r));
  return server;
}

async function main(): Promise<void> {
  let cluster: EtcdCluster | undefined;
  let proxy: FaultProxy | undefined;
  const clients: Etcd3[] = [];
  const guard = setTimeout(() => {
    say('demo took too long; aborting');
    process.exit(1);
  }, 55_000);
  guard.unref();
  try {
    say('starting a 3-member etcd cluster on 127.0.0.1 (free ports, temporary data dirs)...');
    cluster = await startEtcd({ members: 3 });
    say(`cluster up: ${cluster.endpoints.join(' ')}`);

    const client = createClient({ hosts: cluster.endpoints });
    clients.push(client);
    client.onStateChange(e => say(`  client: ${e.endpoint} ${e.from} -> ${e.to}`));
    client.onRebuild(e => say(`  client: rebuilt channels of ${e.endpoint} (${e.reason})`));
    client.onBreakerStateChange(e => say(`  client: breaker of ${e.endpoint} is ${e.state}`));

    // Traffic: a get and a put every 100 ms, counted.
    let ok = 0;
    let failed = 0;
    let slowest = 0;
    let running = true;
    const traffic = (async () => {
      for (let i = 0; running && i < 1000; i++) {
        const start = Date.now();
        try {
          await (i % 2
            ? client.get('demo/counter').string()
            : client.put('demo/counter').value(String(i)));
          ok++;
        } catch {
          failed++;
        }
        slowest = Math.max(slowest, Date.now() - start);
        await sleep(100);
      }
    })();
    const tally = (label: string) => {
      say(`${label}: ${ok} calls ok, ${failed} failed, slowest ${slowest} ms`);
      ok = failed = slowest = 0;
    };

    // A service registers through its own client, which reaches etcd via a fault proxy.
    let orders = await listen();
    const addr = `127.0.0.1:${(orders.address() as net.AddressInfo).port}`;
    proxy = await startProxy({ target: cluster.endpoints[0] });
    const serviceClient = createClient({ hosts: proxy.endpoint });
    clients.push(serviceClient);
    const reg = register(serviceClient, {
      service: 'orders',
      addr,
      id: 'orders-1',
      ttlSeconds: 3,
      healthCheck: { intervalMs: 500, timeoutMs: 300 },
    });
    reg.onLost(e => say(`  registration: lease lost (${e.reason}); re-granting with backoff`));
    reg.onRestored(e =>
      say(`  registration: record restored under the same key ${e.key} (outage ${e.outageMs} ms)`),
    );
    reg.onWithdrawn(e =>
      say(`  registration: withdrawn (${e.reason}${e.detail ? `: ${e.detail}` : ''})`),
    );
    reg.onPublished(e => say(`  registration: published ${e.key} (${e.reason})`));

    const caller = createClient({ hosts: cluster.endpoints });
    clients.push(caller);
    const orderSet = discover(caller, 'orders');
    orderSet.onAdded(i => say(`  discovery: + ${i.id} at ${i.addr}`));
    orderSet.onRemoved(i => say(`  discovery: - ${i.id}`));
    await orderSet.ready;
    await sleep(1500);
    say(`discovery sees ${orderSet.snapshot().length} instance(s) of "orders"`);
    tally('warm-up');

    say('ACT 1: SIGKILL etcd member m0 (no goodbye), then restart it');
    await cluster.member(0).kill('SIGKILL');
    await sleep(2500);
    tally('while m0 was dead');
    await cluster.member(0).restart();
    say('m0 restarted with the same data dir');
    await sleep(1500);
    tally('after restart');

    say('ACT 2: SIGSTOP member m1 for 4 s (a frozen peer: TCP open, no answers)');
    cluster.member(1).freeze();
    await sleep(4000);
    cluster.member(1).thaw();
    tally('during the freeze (reads moved to other members after one attempt timeout)');
    await sleep(1000);

    say('ACT 3: the orders listener dies; registration follows the service health');
    await new Promise<void>(r => orders.close(() => r()));
    await sleep(1800);
    say(`discovery now sees ${orderSet.snapshot().length} instance(s)`);
    orders = await listen(Number(addr.split(':')[1]));
    say('orders listening again');
    await sleep(1800);
    say(`discovery now sees ${orderSet.snapshot().length} instance(s)`);

    say(
      'ACT 4: the service is cut off from etcd (silent flows, refused reconnects) for 5 s > TTL 3 s',
    );
    proxy.blackhole('both');
    proxy.refuse(true);
    await sleep(5000);
    say(
      `etcd expired the lease; discovery sees ${orderSet.snapshot().length} instance(s). Healing the network...`,
    );
    proxy.refuse(false);
    proxy.pass();
    await sleep(2500);
    say(
      `discovery sees ${orderSet.snapshot().length} instance(s) again, with no action by the service`,
    );
    tally('acts 3-4 (the main client was never affected)');

    say('shutting down in order: registration (revokes its lease), discovery, clients');
    running = false;
    await traffic;
    await reg.close();
    await orderSet.close();
    await new Promise<void>(r => orders.close(() => r()));
  } finally {
    for (const c of clients) {
      await c.close();
    }
    await proxy?.close();
    await cluster?.stop();
    clearTimeout(guard);
    say('done: cluster stopped, data dirs removed');
  }
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
