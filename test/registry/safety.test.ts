/**
 * Issue 10 findings 1, 7 and 8 (registry part), on the in-memory etcd:
 * - a put whose outcome was unknown lands after the record was withdrawn: it must
 *   not stay (zombie registration);
 * - two live registrations of one key on one client: refused; closing one never
 *   deletes a record it did not write;
 * - etcd refusing the registration permanently rejects ready() and fires onFailed.
 */
import {
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  GRPCInvalidArgumentError,
} from 'etcd3';
import { describe, expect, it, vi } from 'vitest';
import { InvalidOptionError } from '../../lib/errors';
import { tick, withRegistrations } from '../fakes/registry-harness';

describe('registry safety', () => {
  const fx = withRegistrations();
  const { reg } = fx;

  it('finding 1: a put that lands late, after pause(), does not resurrect the record', async () => {
    fx.etcd.holdTxns = true; // the first put goes to a "slow member": applied later
    const r = reg({ lease: { callTimeoutMs: 500 } });
    await tick(600); // the put timed out (outcome unknown)
    fx.etcd.holdTxns = false;
    await Promise.all([r.ready(), tick(1000)]);
    expect(fx.etcd.kv.has('orders/i1')).toBe(true);
    await Promise.all([r.pause(), tick(50)]);
    expect(fx.etcd.kv.has('orders/i1')).toBe(false);
    fx.etcd.releaseHeld(); // the late copy lands now
    expect(fx.etcd.kv.has('orders/i1')).toBe(true);
    await tick(100);
    expect(fx.etcd.kv.has('orders/i1'), 'late copy deleted again').toBe(false);
    await tick(5000);
    expect(fx.etcd.kv.has('orders/i1')).toBe(false);
    expect(r.state).toBe('withdrawn');
  });

  it('finding 1: a late copy after close() of a registration sharing a lease is deleted too', async () => {
    const other = reg({ id: 'keeps-lease-alive' });
    await Promise.all([other.ready(), tick(50)]);
    fx.etcd.holdTxns = true;
    const r = reg({ lease: { callTimeoutMs: 500 } });
    await tick(600);
    fx.etcd.holdTxns = false;
    await Promise.all([r.ready(), tick(3000)]);
    await Promise.all([r.close(), tick(50)]);
    expect(fx.etcd.kv.has('orders/i1')).toBe(false);
    fx.etcd.releaseHeld();
    await tick(100);
    expect(fx.etcd.kv.has('orders/i1')).toBe(false);
    expect(fx.etcd.kv.has('orders/keeps-lease-alive')).toBe(true);
  });

  it('finding 1: registry writes are never marked retryWrites (never cut short and resent)', async () => {
    const r = reg();
    await Promise.all([r.ready(), tick(50)]);
    expect(fx.etcd.txns).toBeGreaterThan(0);
    const syms = Object.getOwnPropertySymbols(fx.etcd.lastTxnOptions ?? {});
    expect(syms.map(s => s.description)).not.toContain('etcd3-resilient.retryWrites');
  });

  it('finding 7: a second live registration of the same key on one client is refused', async () => {
    const old = reg();
    await Promise.all([old.ready(), tick(50)]);
    expect(() => reg()).toThrow(InvalidOptionError);
    // Another id, or the same id once the old one is closed, is fine.
    reg({ id: 'i2' });
    const closing = old.close();
    const renewed = reg({ metadata: { v: 2 } });
    await Promise.all([closing, renewed.ready(), tick(200)]);
    expect(fx.etcd.kv.get('orders/i1')?.value).toContain('"v":2');
    await tick(5000);
    expect(
      fx.etcd.kv.get('orders/i1')?.value,
      'the old close did not delete the new record',
    ).toContain('"v":2');
  });

  for (const [name, error] of [
    ['permission denied', new EtcdPermissionDeniedError('etcdserver: permission denied')],
    ['invalid argument', new GRPCInvalidArgumentError('3 INVALID_ARGUMENT: bad')],
  ] as const) {
    it(`finding 8: a write refused with ${name} rejects ready() and fires onFailed`, async () => {
      fx.etcd.writeError = error;
      const r = reg();
      const failed = vi.fn();
      r.onFailed(failed);
      const ready = r.ready().then(
        () => 'resolved',
        (err: unknown) => err,
      );
      await tick(200);
      expect(await ready).toBe(error);
      expect(failed).toHaveBeenCalledWith(expect.objectContaining({ key: 'orders/i1', error }));
      expect(r.state).toBe('failed');
      const txns = fx.etcd.txns;
      await tick(5000);
      expect(fx.etcd.txns, 'no more retries').toBe(txns);
      await expect(r.ready()).rejects.toBe(error);
    });
  }

  it('finding 8: a lease grant refused with authentication failed rejects ready()', async () => {
    fx.etcd.grantError = new EtcdAuthenticationFailedError('etcdserver: authentication failed');
    const r = reg();
    const ready = r.ready().then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await tick(200);
    expect(await ready).toBe(fx.etcd.grantError);
    expect(r.state).toBe('failed');
  });

  it('finding 8: transient failures are still retried forever', async () => {
    fx.etcd.network = 'refused';
    const r = reg();
    const failed = vi.fn();
    r.onFailed(failed);
    await tick(10_000);
    expect(failed).not.toHaveBeenCalled();
    fx.etcd.network = 'ok';
    await Promise.all([r.ready(), tick(1000)]);
    expect(r.state).toBe('published');
  });
});
