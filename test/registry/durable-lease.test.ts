import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  DurableLease,
  type LeaseLostEvent,
  type LeaseRestoredEvent,
} from '../../lib/registry/durable-lease';
import { InvalidOptionError } from '../../lib/errors';
import { FakeEtcdStore } from '../fakes/fake-etcd-store';

const tick = (ms: number) => vi.advanceTimersByTimeAsync(ms);

describe('DurableLease', () => {
  let etcd: FakeEtcdStore;
  const leases: DurableLease[] = [];
  const make = (ttlSeconds = 3, extra = {}) => {
    const lease = new DurableLease(etcd.client, { ttlSeconds, ...extra });
    leases.push(lease);
    return lease;
  };

  beforeEach(() => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    etcd = new FakeEtcdStore();
  });
  afterEach(async () => {
    await Promise.all(leases.splice(0).map(l => l.close({ revoke: false })));
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('grants, writes attached keys under the lease and renews every TTL/3 over one stream', async () => {
    const lease = make(3);
    const attached = lease.attach('svc/a', 'v1');
    await tick(10);
    await attached;
    expect(lease.state).toBe('alive');
    expect(etcd.kv.get('svc/a')).toMatchObject({ value: 'v1', lease: lease.leaseId });
    const before = etcd.keepalivesSent;
    await tick(10_000);
    // 10 s / 1 s interval = 10 keepalives (±1 for phase), and the lease is still the first one.
    expect(etcd.keepalivesSent - before).toBeGreaterThanOrEqual(9);
    expect(etcd.keepalivesSent - before).toBeLessThanOrEqual(11);
    expect(etcd.keepaliveStreams).toBe(1);
    expect(etcd.grants).toBe(1);
    expect(lease.state).toBe('alive');
  });

  it('declares the loss at the TTL after the last renewal when keepalives go unanswered (not 2xTTL)', async () => {
    const lease = make(6);
    await tick(10);
    const lost: Array<LeaseLostEvent & { at: number }> = [];
    lease.onLost(e => lost.push({ ...e, at: Date.now() }));
    await tick(2100); // one renewal at ~2 s
    etcd.network = 'silent';
    const cutAt = Date.now();
    await tick(7000);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBe('keepalive-timeout');
    // Last renewal was at most one interval (2 s) before the cut; loss exactly TTL after it.
    expect(lost[0]!.sinceRenewalMs).toBeGreaterThanOrEqual(6000);
    expect(lost[0]!.sinceRenewalMs).toBeLessThan(6100);
    expect(lost[0]!.at - cutAt).toBeLessThanOrEqual(6000);
    expect(lease.state).toBe('lost');
  });

  it('re-grants after etcd expires the lease and re-writes every key under the same names', async () => {
    const lease = make(3);
    await Promise.all([lease.attach('svc/a', 'A'), lease.attach('svc/b', 'B'), tick(10)]);
    const first = lease.leaseId!;
    const restored: LeaseRestoredEvent[] = [];
    const lost: LeaseLostEvent[] = [];
    lease.onRestored(e => restored.push(e));
    lease.onLost(e => lost.push(e));
    etcd.dropLease(first); // etcd expired it; keys gone
    expect(etcd.kv.size).toBe(0);
    await tick(1100); // next keepalive says TTL 0
    expect(lost).toEqual([expect.objectContaining({ leaseId: first, reason: 'expired' })]);
    expect(restored).toHaveLength(1);
    expect(restored[0]).toMatchObject({ lostLeaseId: first, keys: 2 });
    expect(restored[0]!.leaseId).not.toBe(first);
    expect(restored[0]!.outageMs).toBeLessThan(100);
    expect(etcd.kv.get('svc/a')).toMatchObject({ value: 'A', lease: lease.leaseId });
    expect(etcd.kv.get('svc/b')).toMatchObject({ value: 'B', lease: lease.leaseId });
  });

  it('retries grants with jittered backoff, capped, with no attempt limit', async () => {
    etcd.failGrants = 60;
    const lease = make(3, { backoff: { initialDelayMs: 100, maxDelayMs: 500 } });
    // 60 failures at <= 500 ms each fit in 30 s; far more than any fixed retry limit.
    for (let i = 0; i < 40 && lease.state !== 'alive'; i++) {
      await tick(1000);
    }
    expect(lease.state).toBe('alive');
    expect(etcd.failGrants).toBe(0);
    expect(etcd.grants).toBe(1);
  });

  it('after an outage longer than the TTL, re-registers as soon as the network is back', async () => {
    const lease = make(2, { backoff: { initialDelayMs: 100, maxDelayMs: 500 } });
    await Promise.all([lease.attach('svc/a', 'A'), tick(10)]);
    const restored: LeaseRestoredEvent[] = [];
    lease.onRestored(e => restored.push(e));
    etcd.network = 'silent';
    await tick(5000); // etcd expires the lease (server clock keeps running)
    expect(etcd.kv.has('svc/a')).toBe(false);
    expect(lease.state).toBe('lost');
    etcd.network = 'ok';
    const healedAt = Date.now();
    // A grant attempt may be hanging until its 2 s deadline; then <= 500 ms backoff.
    for (let i = 0; i < 30 && restored.length === 0; i++) {
      await tick(100);
    }
    expect(restored).toHaveLength(1);
    expect(Date.now() - healedAt).toBeLessThanOrEqual(2000 + 500 + 100);
    expect(etcd.kv.get('svc/a')).toMatchObject({ value: 'A', lease: lease.leaseId });
  });

  it('when a channel becomes READY again, abandons a grant stuck on the dead connection and retries at once', async () => {
    const lease = make(2, { callTimeoutMs: 5000 });
    await Promise.all([lease.attach('svc/a', 'A'), tick(10)]);
    const restored: LeaseRestoredEvent[] = [];
    lease.onRestored(e => restored.push(e));
    etcd.network = 'silent';
    await tick(2500); // lost at 2 s; a grant is now hanging (5 s deadline)
    expect(lease.state).toBe('lost');
    etcd.network = 'ok';
    etcd.channelEvents.emit({ endpoint: 'e', from: 'CONNECTING', to: 'READY' });
    await tick(50);
    expect(restored).toHaveLength(1); // not after the stuck attempt's 5 s deadline
    expect(etcd.kv.get('svc/a')?.lease).toBe(lease.leaseId);
  });

  it('treats "lease not found" on a write as a loss', async () => {
    const lease = make(3);
    await Promise.all([lease.attach('svc/a', 'A'), tick(10)]);
    const lost: LeaseLostEvent[] = [];
    lease.onLost(e => lost.push(e));
    const id = lease.leaseId!;
    etcd.leases.delete(id); // gone without a keepalive noticing yet
    lease.heal('svc/a', 'deleted');
    await tick(50);
    expect(lost).toEqual([expect.objectContaining({ leaseId: id, reason: 'not-found' })]);
    await tick(50);
    expect(lease.state).toBe('alive');
    expect(etcd.kv.get('svc/a')?.lease).toBe(lease.leaseId);
  });

  it('heals a key and reports it; detach deletes it', async () => {
    const lease = make(3);
    await Promise.all([lease.attach('svc/a', 'A'), tick(10)]);
    const healed: unknown[] = [];
    lease.onKeyHealed(e => healed.push(e));
    etcd.delete('svc/a');
    lease.heal('svc/a', 'deleted');
    await tick(10);
    expect(healed).toEqual([{ key: 'svc/a', leaseId: lease.leaseId, cause: 'deleted' }]);
    expect(etcd.kv.get('svc/a')?.value).toBe('A');
    await Promise.all([lease.detach('svc/a'), tick(10)]);
    expect(etcd.kv.has('svc/a')).toBe(false);
    expect(lease.size).toBe(0);
  });

  it('close() revokes once, is idempotent, and a grant finishing after close is revoked', async () => {
    const lease = make(3);
    await Promise.all([lease.attach('svc/a', 'A'), tick(10)]);
    const p1 = lease.close();
    const p2 = lease.close();
    expect(p1).toBe(p2);
    await Promise.all([p1, tick(10)]);
    expect(etcd.leases.size).toBe(0);
    expect(etcd.kv.size).toBe(0);
    expect(() => lease.attach('svc/b', 'B')).toThrow();

    const early = make(3);
    void early.close(); // before the grant's reply
    await tick(20);
    expect(etcd.grants).toBe(2);
    expect(etcd.leases.size).toBe(0);
  });

  it('a throwing listener does not stop the lease', async () => {
    const lease = make(3);
    await Promise.all([lease.attach('svc/a', 'A'), tick(10)]);
    lease.onLost(() => {
      throw new Error('user bug');
    });
    etcd.dropLease(lease.leaseId!);
    await tick(1200);
    expect(lease.state).toBe('alive');
    expect(etcd.kv.get('svc/a')?.lease).toBe(lease.leaseId);
  });

  it('uses the TTL etcd granted, not the one asked for', async () => {
    etcd.grantTtlOverride = 5;
    const lease = make(2);
    await tick(10);
    expect(lease.ttlSeconds).toBe(5);
  });

  it('rejects bad options before any call', () => {
    for (const ttlSeconds of [0, 1, 1.5, 3601, NaN, '10' as unknown as number]) {
      expect(() => new DurableLease(etcd.client, { ttlSeconds })).toThrow(InvalidOptionError);
    }
    expect(
      () => new DurableLease(etcd.client, { ttlSeconds: 10, keepaliveIntervalMs: 6000 }),
    ).toThrow(/keepaliveIntervalMs/);
    expect(
      () => new DurableLease(etcd.client, { ttlSeconds: 10, backoff: { maxDelayMs: -1 } }),
    ).toThrow(/backoff.maxDelayMs/);
    expect(etcd.grants).toBe(0);
  });
});
