/**
 * A lease holder cut off from etcd (open flows silent, new connections refused) learns
 * of the loss before anyone on a healthy path can see the lease gone. Raw etcd3 is
 * measured side by side in the same run.
 */
import { Etcd3 as RawEtcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../lib/client';
import { startProxy } from '../../lib/testing';
import { withEtcdClient } from '../shared';
import { sleep, waitFor } from './helpers';

const TTL = 3;

describe('lease: holder partitioned', () => {
  const fx = withEtcdClient();
  const cleanups = fx.cleanup;

  it('fires lost before an observer sees the lease gone (and measures raw etcd3)', async () => {
    const ours = await startProxy({ target: fx.cluster.endpoints[0]! });
    const raws = await startProxy({ target: fx.cluster.endpoints[0]! });
    const client = createClient({ hosts: ours.endpoint });
    const raw = new RawEtcd3({ hosts: raws.endpoint });
    cleanups.push(
      () => ours.close(),
      () => raws.close(),
      () => client.close(),
      () => raw.close(),
    );
    const lease = client.lease(TTL);
    const rawLease = raw.lease(TTL);
    await lease.put('own/partition/ours').value('x');
    await rawLease.put('own/partition/raw').value('x');
    await sleep(1500); // a few keepalives on both

    let lostAt = 0;
    let rawLostAt = 0;
    // The signal must already be aborted when `lost` is delivered: one moment, one order.
    let abortedBeforeLost: boolean | undefined;
    lease.on('lost', () => {
      lostAt ||= Date.now();
      abortedBeforeLost ??= lease.signal.aborted;
    });
    rawLease.on('lost', () => (rawLostAt ||= Date.now()));

    ours.blackhole('both');
    ours.refuse(true);
    raws.blackhole('both');
    raws.refuse(true);
    const cutAt = Date.now();

    const gone = async (key: string) => (await fx.client.get(key).string()) === null;
    const [goneMs, rawGoneMs] = await Promise.all([
      waitFor(() => gone('own/partition/ours'), (TTL + 3) * 1000),
      waitFor(() => gone('own/partition/raw'), (TTL + 3) * 1000),
    ]);
    await waitFor(() => rawLostAt > 0, (2 * TTL + 3) * 1000);
    const lostMs = lostAt - cutAt;
    const rawLostMs = rawLostAt - cutAt;
    console.log(
      `[measure] lease partition TTL ${TTL} s: ours lost ${lostMs} ms after the cut, ` +
        `observer saw it gone ${goneMs} ms -> margin ${goneMs - lostMs} ms; ` +
        `raw etcd3 lost ${rawLostMs} ms, gone ${rawGoneMs} ms -> margin ${rawGoneMs - rawLostMs} ms`,
    );
    expect(lostAt).toBeGreaterThan(0);
    expect(lostMs).toBeLessThan(goneMs);
    expect(abortedBeforeLost).toBe(true);
    expect(lease.signal.reason?.constructor?.name).toBe('EtcdLeaseInvalidError');
    expect(rawLostMs).toBeGreaterThan(rawGoneMs); // raw etcd3: false ownership
  });
});
