/**
 * Locks and elections whose holder is partitioned: the holder learns of the loss
 * before anyone else can take over; successive lock holders get increasing fencing
 * tokens.
 */
import { EtcdLockFailedError } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../lib/client';
import { startProxy } from '../../lib/testing';
import { withEtcdClient } from '../shared';
import { sleep, waitFor } from './helpers';

const TTL = 2;

describe('ownership: holder partitioned', () => {
  const fx = withEtcdClient();
  const cleanups = fx.cleanup;

  async function cutOffClient() {
    const proxy = await startProxy({ target: fx.cluster.endpoints[0]! });
    const client = createClient({ hosts: proxy.endpoint });
    cleanups.push(
      () => proxy.close(),
      () => client.close(),
    );
    return {
      client,
      cut: () => {
        proxy.blackhole('both');
        proxy.refuse(true);
        return Date.now();
      },
    };
  }

  it('lock: A is aborted before B acquires; B has a greater fencing token', async () => {
    const a = await cutOffClient();
    const lockA = await a.client.lock('own/lock').ttl(TTL).acquire();
    const tokenA = lockA.fencingToken!;
    expect(tokenA).toMatch(/^\d+$/);
    let abortedAt = 0;
    const lost: unknown[] = [];
    lockA.signal.addEventListener('abort', () => (abortedAt = Date.now()));
    lockA.onLost(err => lost.push(err));
    await sleep(500);
    const cutAt = a.cut();

    let acquiredAt = 0;
    let tokenB = '';
    const lockB = fx.client.lock('own/lock').ttl(TTL);
    await waitFor(
      async () => {
        try {
          await lockB.acquire();
          acquiredAt = Date.now();
          tokenB = lockB.fencingToken!;
          return true;
        } catch (err) {
          if (!(err instanceof EtcdLockFailedError)) {
            throw err;
          }
          return false;
        }
      },
      (TTL + 3) * 1000,
      25,
    );
    console.log(
      `[measure] lock partition TTL ${TTL} s: A aborted ${abortedAt - cutAt} ms after the cut, ` +
        `B acquired ${acquiredAt - cutAt} ms -> margin ${acquiredAt - abortedAt} ms; tokens A=${tokenA} B=${tokenB}`,
    );
    expect(abortedAt).toBeGreaterThan(0);
    expect(abortedAt).toBeLessThan(acquiredAt);
    expect(lost).toHaveLength(1);
    expect(lockA.signal.reason).toBe(lost[0]);
    expect(BigInt(tokenB)).toBeGreaterThan(BigInt(tokenA));
    await lockB.release();
    expect(lockB.signal.aborted).toBe(true);
    expect((lockB.signal.reason as { end?: string }).end).toBe('released');
  });

  it('election: the leader learns of the loss before another candidate is elected', async () => {
    const a = await cutOffClient();
    const campaignA = a.client.election('own-election', TTL).campaign('a');
    await new Promise<void>((resolve, reject) => {
      campaignA.on('elected', () => resolve());
      campaignA.on('error', reject);
    });
    const errors: unknown[] = [];
    campaignA.on('error', err => errors.push(err)); // etcd3 emits error on loss, as before
    expect(campaignA.isLeader).toBe(true);
    const observer = await fx.client.election('own-election', TTL).observe();
    const leaders: Array<string | undefined> = [observer.leader()];
    observer.on('change', l => leaders.push(l));
    cleanups.push(() => observer.cancel());

    const campaignB = fx.client.election('own-election', TTL).campaign('b');
    cleanups.push(() => campaignB.resign());
    let electedB = 0;
    campaignB.on('elected', () => (electedB = Date.now()));
    await sleep(500);
    let lostAt = 0;
    campaignA.onLost(() => (lostAt = Date.now()));
    const cutAt = a.cut();
    await waitFor(() => electedB > 0, (TTL + 3) * 1000);
    console.log(
      `[measure] election partition TTL ${TTL} s: leader lost ${lostAt - cutAt} ms after the cut, ` +
        `other candidate elected ${electedB - cutAt} ms -> margin ${electedB - lostAt} ms`,
    );
    expect(lostAt).toBeGreaterThan(0);
    expect(lostAt).toBeLessThan(electedB);
    expect(campaignA.signal.aborted).toBe(true);
    expect(campaignA.isLeader).toBe(false);
    expect(errors).toHaveLength(1);
    await waitFor(() => leaders.at(-1) === 'b', 2000);
    expect(leaders).toEqual(['a', 'b']);
  });

  it('a holder on a slow path (+300 ms each way) is never declared lost over 3 TTLs', async () => {
    const proxy = await startProxy({ target: fx.cluster.endpoints[0]! });
    proxy.delay(300);
    const client = createClient({ hosts: proxy.endpoint });
    cleanups.push(
      () => proxy.close(),
      () => client.close(),
    );
    const lease = client.lease(TTL);
    const t0 = Date.now();
    const trace: string[] = [];
    for (const e of [
      'keepaliveFired',
      'keepaliveSucceeded',
      'keepaliveFailed',
      'keepaliveEstablished',
      'lost',
    ]) {
      lease.on(e as 'lost', (x?: unknown) =>
        trace.push(`${Date.now() - t0} ${e} ${x instanceof Error ? x.message : ''}`),
      );
    }
    await lease.grant();
    trace.push(`${Date.now() - t0} granted`);
    let succeeded = 0;
    lease.on('keepaliveSucceeded', () => succeeded++);
    const lost: unknown[] = [];
    lease.on('lost', err => lost.push(err));
    await sleep(3 * TTL * 1000);
    console.log(
      `[measure] slow path +300 ms each way, TTL ${TTL} s: ${succeeded} keepalives answered, ` +
        `${lease.keepaliveStreamsOpened} streams opened, ${Math.round(lease.remainingMs())} ms left`,
    );
    if (lost.length) console.log(trace.join('\n'));
    expect(lost).toEqual([]);
    expect(lease.signal.aborted).toBe(false);
    expect(succeeded).toBeGreaterThanOrEqual(5);
    expect((await fx.client.lease(TTL).grant()) !== undefined).toBe(true);
    await lease.revoke();
  });
});
