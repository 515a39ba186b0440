import { describe, expect, it, vi } from 'vitest';
import { tick, withRegistrations } from '../fakes/registry-harness';

const record = (addr: string, metadata: unknown = null) =>
  JSON.stringify({ Op: 0, Addr: addr, Metadata: metadata });

describe('register()', () => {
  const fx = withRegistrations();
  const { reg } = fx;

  it('publishes the Go naming record under <prefix><service>/<id> and ready() resolves', async () => {
    const r = reg({ prefix: 'svc/', metadata: { zone: 'a' } });
    const published = vi.fn();
    r.onPublished(published);
    await Promise.all([r.ready(), tick(20)]);
    expect(r.key).toBe('svc/orders/i1');
    expect(r.state).toBe('published');
    expect(fx.etcd.kv.get('svc/orders/i1')?.value).toBe(record('10.0.0.5:8080', { zone: 'a' }));
    expect(published).toHaveBeenCalledWith({
      key: 'svc/orders/i1',
      leaseId: r.leaseId,
      reason: 'initial',
    });
  });

  it('puts the key back when someone deletes or overwrites it, and says so', async () => {
    const r = reg();
    await tick(20);
    const healed = vi.fn();
    r.onHealed(healed);
    fx.etcd.delete('orders/i1');
    await tick(20);
    expect(fx.etcd.kv.get('orders/i1')?.value).toBe(record('10.0.0.5:8080'));
    fx.etcd.put('orders/i1', 'junk');
    await tick(20);
    expect(fx.etcd.kv.get('orders/i1')).toMatchObject({
      value: record('10.0.0.5:8080'),
      lease: r.leaseId,
    });
    expect(healed.mock.calls.map(c => c[0].cause)).toEqual(['deleted', 'overwritten']);
  });

  it('backs off when the key is contested (e.g. a duplicate id), instead of fighting in a tight loop', async () => {
    reg();
    await tick(20);
    let fights = 0;
    // Another writer overwrites the key every time it comes back, for 5 s.
    const stop = Date.now() + 5000;
    const timer = setInterval(() => {
      if (Date.now() < stop && fx.etcd.kv.get('orders/i1')?.lease !== '0') {
        fights++;
        fx.etcd.put('orders/i1', 'other');
      }
    }, 5);
    await tick(5000);
    clearInterval(timer);
    // Without backoff this would be ~1000 rounds (one per 5 ms); with it, a few dozen at most.
    expect(fights).toBeGreaterThan(2);
    expect(fights).toBeLessThan(40);
  });

  it('re-creates a failed watch and re-reads the key', async () => {
    reg();
    await tick(20);
    fx.etcd.failWatchers();
    fx.etcd.delete('orders/i1'); // while no watch is running
    await tick(1000);
    expect(fx.etcd.kv.get('orders/i1')?.value).toBe(record('10.0.0.5:8080'));
    expect(fx.etcd.watcherCount).toBe(1);
  });

  it('reports lost and restored with the outage, under the same key', async () => {
    const r = reg();
    await tick(20);
    const first = r.leaseId!;
    const events: string[] = [];
    r.onLost(e => events.push(`lost:${e.reason}`));
    r.onRestored(e => events.push(`restored:${e.leaseId !== first}:${e.outageMs < 100}`));
    fx.etcd.dropLease(first);
    await tick(1200);
    // The watch on the key sees etcd delete it first; the re-put reports the lease gone.
    expect(events).toEqual(['lost:not-found', 'restored:true:true']);
    expect(r.state).toBe('published');
    expect(fx.etcd.kv.get('orders/i1')?.lease).toBe(r.leaseId);
  });

  it('follows the health check: withdrawn within two intervals of failing, back within two of passing', async () => {
    let healthy = true;
    const r = reg({ healthCheck: { fn: () => healthy, intervalMs: 500 } });
    const withdrawn = vi.fn();
    const published = vi.fn();
    r.onWithdrawn(withdrawn);
    r.onPublished(published);
    await tick(20);
    expect(fx.etcd.kv.has('orders/i1')).toBe(true);
    healthy = false;
    await tick(1000);
    expect(fx.etcd.kv.has('orders/i1')).toBe(false);
    expect(r.state).toBe('withdrawn');
    expect(withdrawn).toHaveBeenCalledWith({
      key: 'orders/i1',
      reason: 'unhealthy',
      detail: 'check function returned false',
    });
    healthy = true;
    await tick(1000);
    expect(fx.etcd.kv.has('orders/i1')).toBe(true);
    expect(published.mock.calls.map(c => c[0].reason)).toEqual(['initial', 'healthy']);
  });

  it('does not publish before the first health check passes', async () => {
    const r = reg({ healthCheck: { fn: () => false, intervalMs: 500 } });
    await tick(2000);
    expect(fx.etcd.kv.has('orders/i1')).toBe(false);
    expect(r.state).toBe('withdrawn');
    expect(fx.etcd.grants).toBe(1); // the lease is held, ready for when it passes
  });

  it('pause() withdraws and resume() publishes again', async () => {
    const r = reg();
    await tick(20);
    await Promise.all([r.pause(), tick(20)]);
    expect(fx.etcd.kv.has('orders/i1')).toBe(false);
    r.resume();
    await tick(20);
    expect(fx.etcd.kv.has('orders/i1')).toBe(true);
  });

  it('registrations on one client and TTL share one lease and one keepalive stream', async () => {
    const a = reg({ id: 'a' });
    const b = reg({ id: 'b' });
    const c = reg({ id: 'c', ttlSeconds: 5 });
    await tick(20);
    expect(a.leaseId).toBe(b.leaseId);
    expect(c.leaseId).not.toBe(a.leaseId);
    expect(fx.etcd.grants).toBe(2);
    await tick(3000);
    expect(fx.etcd.keepaliveStreams).toBe(2);
    // Closing one of two holders deletes only its key; the last one revokes the lease.
    await Promise.all([a.close(), tick(20)]);
    expect(fx.etcd.kv.has('orders/a')).toBe(false);
    expect(fx.etcd.kv.has('orders/b')).toBe(true);
    expect(fx.etcd.leases.has(b.leaseId!)).toBe(true);
    const id = b.leaseId!;
    await Promise.all([b.close(), tick(20)]);
    expect(fx.etcd.leases.has(id)).toBe(false);
  });

  it('close() is idempotent, bounded when etcd is unreachable, and ready() then rejects', async () => {
    const r = reg();
    await tick(20);
    fx.etcd.network = 'silent';
    const p = r.close();
    expect(r.close()).toBe(p);
    let done = false;
    void p.then(() => (done = true));
    await tick(1200); // closeTimeoutMs (1000) + margin
    expect(done).toBe(true);
    await expect(r.ready()).rejects.toThrow(/closed/);
  });

  it('stops (and closes) when the etcd client is closed under it, instead of retrying forever', async () => {
    const r = reg();
    await tick(20);
    fx.etcd.clientClosed = true;
    fx.etcd.network = 'silent'; // keepalives go unanswered too, as with a closed client
    await tick(5000);
    expect(r.state).toBe('closed');
    const grants = fx.etcd.grants;
    await tick(10_000);
    expect(fx.etcd.grants).toBe(grants);
    expect(vi.getTimerCount()).toBeLessThan(5); // nothing left polling
  });

  it('also stops when the client is found closed while re-granting', async () => {
    const r = reg({ selfHeal: false }); // so that only the re-grant can notice
    await tick(20);
    fx.etcd.clientClosed = true;
    fx.etcd.dropLease(r.leaseId!); // the next keepalive reply says TTL 0: lost, then re-grant fails
    await tick(1500);
    expect(r.state).toBe('closed');
  });

  it('a throwing listener is contained', async () => {
    const r = reg();
    r.onPublished(() => {
      throw new Error('user bug');
    });
    await tick(20);
    expect(r.state).toBe('published');
  });
});
