/**
 * Leases that ended (revoked, released, lost) are not retained by the client
 * (issue 10 finding 6: 300 grant+revoke used to leave 300 held).
 */
import { describe, expect, it } from 'vitest';
import { withEtcdClient } from '../shared';
import { heldLeases } from './helpers';

describe('lease retention', () => {
  const fx = withEtcdClient();

  it('300 grant+revoke leave 0 leases held; released ones are dropped too', async () => {
    for (let i = 0; i < 300; i++) {
      const lease = fx.client.lease(5);
      await lease.grant();
      await lease.revoke();
    }
    expect(heldLeases(fx.client)).toBe(0);
    const kept = fx.client.lease(5);
    await kept.grant();
    expect(heldLeases(fx.client)).toBe(1);
    kept.release();
    expect(heldLeases(fx.client)).toBe(0);
  });
});
