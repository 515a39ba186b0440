/**
 * The registry's key guard watches through the watch hub (issue 14): one Watch
 * stream per client for discoveries and key guards, resumption after a broken
 * stream without a re-read, and re-creation after etcd cancels the watch.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { discover, type Discovery } from '../../lib/discovery/discovery';
import { watchHubStats } from '../../lib/watch/hub-registry';
import { tick, withRegistrations } from '../fakes/registry-harness';

const record = (addr: string) => JSON.stringify({ Op: 0, Addr: addr, Metadata: null });

describe('key guard on the watch hub', () => {
  const fx = withRegistrations();
  const reg = (id = 'i1') => fx.reg({ id });
  const discoveries: Discovery[] = [];
  afterEach(async () => {
    await Promise.all(discoveries.splice(0).map(d => d.close()));
  });

  it('registrations and discoveries of one client share one Watch stream', async () => {
    reg('a');
    reg('b');
    const d = discover(fx.etcd.client, 'orders');
    discoveries.push(d);
    await tick(50);
    expect(fx.etcd.opened).toHaveLength(1);
    expect(fx.etcd.watcherCount).toBe(3);
    expect(watchHubStats(fx.etcd.client.pool)).toMatchObject({ streamsOpen: 1, watches: 3 });
    expect(d.snapshot().map(i => i.id)).toEqual(['a', 'b']);
  });

  it('a delete made while the stream was broken is healed when the hub resumes the watch', async () => {
    const r = reg();
    const healed = vi.fn();
    r.onHealed(healed);
    await tick(50);
    const reads = fx.etcd.rangeCalls;
    fx.etcd.opened[0]!.stalled = true; // nothing reaches us any more...
    fx.etcd.delete('orders/i1'); // ...so this delete is missed on this stream
    fx.etcd.opened[0]!.fail();
    await tick(1000);
    expect(fx.etcd.opened).toHaveLength(2);
    expect(healed).toHaveBeenCalledWith(expect.objectContaining({ cause: 'deleted' }));
    expect(fx.etcd.kv.get('orders/i1')?.value).toBe(record('10.0.0.5:8080'));
    expect(fx.etcd.rangeCalls).toBe(reads); // resumed from the revision seen, not re-read
  });

  it('a watch etcd cancels (compaction) is re-created and the key re-read', async () => {
    reg();
    await tick(50);
    const reads = fx.etcd.rangeCalls;
    const stream = fx.etcd.opened[0]!;
    stream.stalled = true;
    fx.etcd.delete('orders/i1');
    stream.stalled = false;
    fx.etcd.compact();
    stream.cancelWatches(fx.etcd.revision, '');
    await tick(1000);
    expect(fx.etcd.kv.get('orders/i1')?.value).toBe(record('10.0.0.5:8080'));
    expect(fx.etcd.watcherCount).toBe(1);
    expect(fx.etcd.rangeCalls).toBeGreaterThan(reads); // re-read, since the history is gone
  });

  it('a first read that never answers delays the watch by the call timeout only', async () => {
    fx.etcd.silentReads = true; // the guard's read of its key is lost on the way
    fx.reg({ lease: { callTimeoutMs: 2000 } });
    await tick(50);
    expect(fx.etcd.kv.has('orders/i1')).toBe(true);
    expect(fx.etcd.watcherCount).toBe(0); // still reading
    await tick(2100);
    expect(fx.etcd.watcherCount).toBe(1); // the read timed out; watching from now
    fx.etcd.silentReads = false;
    fx.etcd.delete('orders/i1');
    await tick(50);
    expect(fx.etcd.kv.get('orders/i1')?.value).toBe(record('10.0.0.5:8080'));
  });

  it('close() detaches the watch; the last one closes the stream', async () => {
    const r = reg();
    await tick(50);
    expect(fx.etcd.watcherCount).toBe(1);
    await Promise.all([r.close(), tick(50)]);
    expect(fx.etcd.streams.size).toBe(0);
    expect(watchHubStats(fx.etcd.client.pool)).toMatchObject({ streamsOpen: 0, watches: 0 });
  });
});
