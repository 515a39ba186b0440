/**
 * The registry's key guard watches through the watch hub (issue 14): one Watch
 * stream per client for discoveries and key guards, resumption after a broken
 * stream without a re-read, and re-creation after etcd cancels the watch.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { discover, type Discovery } from '../../lib/discovery/discovery';
import { register, type Registration } from '../../lib/registry/register';
import { watchHubStats } from '../../lib/watch/hub-registry';
import { FakeEtcdStore } from '../fakes/fake-etcd-store';

const tick = (ms: number) => vi.advanceTimersByTimeAsync(ms);
const record = (addr: string) => JSON.stringify({ Op: 0, Addr: addr, Metadata: null });

describe('key guard on the watch hub', () => {
  let etcd: FakeEtcdStore;
  const regs: Registration[] = [];
  const discoveries: Discovery[] = [];
  const reg = (id = 'i1') => {
    const r = register(etcd.client, {
      service: 'orders',
      addr: '10.0.0.5:8080',
      id,
      ttlSeconds: 3,
    });
    regs.push(r);
    return r;
  };

  beforeEach(() => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    etcd = new FakeEtcdStore();
  });
  afterEach(async () => {
    await Promise.all(discoveries.splice(0).map(d => d.close()));
    await Promise.all([Promise.all(regs.splice(0).map(r => r.close())), tick(2000)]);
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('registrations and discoveries of one client share one Watch stream', async () => {
    reg('a');
    reg('b');
    const d = discover(etcd.client, 'orders');
    discoveries.push(d);
    await tick(50);
    expect(etcd.opened).toHaveLength(1);
    expect(etcd.watcherCount).toBe(3);
    expect(watchHubStats(etcd.client.pool)).toMatchObject({ streamsOpen: 1, watches: 3 });
    expect(d.snapshot().map(i => i.id)).toEqual(['a', 'b']);
  });

  it('a delete made while the stream was broken is healed when the hub resumes the watch', async () => {
    const r = reg();
    const healed = vi.fn();
    r.onHealed(healed);
    await tick(50);
    const reads = etcd.rangeCalls;
    etcd.opened[0]!.stalled = true; // nothing reaches us any more...
    etcd.delete('orders/i1'); // ...so this delete is missed on this stream
    etcd.opened[0]!.fail();
    await tick(1000);
    expect(etcd.opened).toHaveLength(2);
    expect(healed).toHaveBeenCalledWith(expect.objectContaining({ cause: 'deleted' }));
    expect(etcd.kv.get('orders/i1')?.value).toBe(record('10.0.0.5:8080'));
    expect(etcd.rangeCalls).toBe(reads); // resumed from the revision seen, not re-read
  });

  it('a watch etcd cancels (compaction) is re-created and the key re-read', async () => {
    reg();
    await tick(50);
    const reads = etcd.rangeCalls;
    const stream = etcd.opened[0]!;
    stream.stalled = true;
    etcd.delete('orders/i1');
    stream.stalled = false;
    etcd.compact();
    stream.cancelWatches(etcd.revision, '');
    await tick(1000);
    expect(etcd.kv.get('orders/i1')?.value).toBe(record('10.0.0.5:8080'));
    expect(etcd.watcherCount).toBe(1);
    expect(etcd.rangeCalls).toBeGreaterThan(reads); // re-read, since the history is gone
  });

  it('a first read that never answers delays the watch by the call timeout only', async () => {
    etcd.silentReads = true; // the guard's read of its key is lost on the way
    const r = register(etcd.client, {
      service: 'orders',
      addr: '10.0.0.5:8080',
      id: 'i1',
      ttlSeconds: 3,
      lease: { callTimeoutMs: 2000 },
    });
    regs.push(r);
    await tick(50);
    expect(etcd.kv.has('orders/i1')).toBe(true);
    expect(etcd.watcherCount).toBe(0); // still reading
    await tick(2100);
    expect(etcd.watcherCount).toBe(1); // the read timed out; watching from now
    etcd.silentReads = false;
    etcd.delete('orders/i1');
    await tick(50);
    expect(etcd.kv.get('orders/i1')?.value).toBe(record('10.0.0.5:8080'));
  });

  it('close() detaches the watch; the last one closes the stream', async () => {
    const r = reg();
    await tick(50);
    expect(etcd.watcherCount).toBe(1);
    await Promise.all([r.close(), tick(50)]);
    expect(etcd.streams.size).toBe(0);
    expect(watchHubStats(etcd.client.pool)).toMatchObject({ streamsOpen: 0, watches: 0 });
  });
});
