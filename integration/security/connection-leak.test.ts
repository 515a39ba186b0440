/**
 * Regression test for a grpc-js connection leak (see lib/internals/grpc-js.ts):
 * a client closed while its etcd member is unreachable must not leave a TCP
 * connection behind once the member is reachable again.
 *
 * The leak needs grpc-js's subchannel sweep (every 10 s) to drop the last
 * reference while the subchannel waits in TRANSIENT_FAILURE with a reconnect
 * requested, and the server to be back when its backoff ends. The test makes
 * that moment instead of waiting for it: a fault proxy refuses connections, the
 * sweep is run by hand right after close(), then the proxy lets connections
 * through again.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Etcd3 } from '../../lib/client';
import { startEtcd, startProxy, type EtcdCluster } from '../../lib/testing';

let cluster: EtcdCluster;
beforeAll(async () => {
  cluster = await startEtcd();
});
afterAll(() => cluster?.stop());

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** grpc-js's periodic sweep of unused subchannels, run now. */
function sweepSubchannels(): void {
  const { getSubchannelPool } = require('@grpc/grpc-js/build/src/subchannel-pool');
  getSubchannelPool(true).unrefUnusedSubchannels();
}

test('a client closed while etcd is unreachable leaves no connection once etcd is reachable again', async () => {
  const proxy = await startProxy({ target: cluster.endpoints[0]! });
  try {
    const rounds = 5;
    for (let i = 0; i < rounds; i++) {
      const client = new Etcd3({
        hosts: proxy.endpoint,
        callTimeoutMs: 400,
        connectTimeoutMs: 300,
      });
      await client.put('leak').value('x');
      proxy.refuse(true);
      proxy.reset();
      // A call while unreachable: the channel fails and is asked to reconnect.
      await client
        .get('leak')
        .string()
        .catch(() => undefined);
      await client.close();
      sweepSubchannels();
      proxy.pass();
      // grpc-js reconnect backoff is at most 800 ms with our channel options.
      await sleep(1500);
    }
    sweepSubchannels();
    await sleep(200);
    console.log(
      `[leak] connections through the proxy after ${rounds} close-while-down rounds: ${proxy.connectionCount}`,
    );
    expect(proxy.connectionCount).toBe(0);
  } finally {
    await proxy.close();
  }
}, 60_000);
