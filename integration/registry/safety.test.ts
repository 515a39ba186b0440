/**
 * Issue 10, against real etcd:
 * - finding 8: a user whose role can only read makes ready() reject with etcd3's
 *   EtcdPermissionDeniedError and onFailed fire, instead of retrying forever;
 * - finding 1: with every byte on one member path delayed 2.5 s, register → pause()
 *   leaves no record behind (watched directly on etcd through a raw client).
 */
import { randomBytes } from 'node:crypto';
import { Etcd3 as RawEtcd3, EtcdPermissionDeniedError } from 'etcd3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Etcd3 } from '../../lib/client';
import { register } from '../../lib/registry/register';
import { startEtcd, startProxy, type EtcdCluster, type FaultProxy } from '../../lib/testing';
import { enableAuth } from '../shared';
import { sleep } from './helpers';

const password = `pw-${randomBytes(8).toString('hex')}`;
let cluster: EtcdCluster;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  cluster = await startEtcd();
  closers.push(() => cluster.stop());
});
afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
});

describe('finding 8: permanent refusals', () => {
  test('a read-only user: ready() rejects with EtcdPermissionDeniedError and onFailed fires', async () => {
    const auth = await startEtcd();
    closers.push(() => auth.stop());
    await enableAuth(auth.endpoints, password, [
      ['user', 'add', `reader:${password}`, '--interactive=false'],
      ['role', 'add', 'ro'],
      ['role', 'grant-permission', 'ro', '--prefix=true', 'read', ''],
      ['user', 'grant-role', 'reader', 'ro'],
    ]);
    const client = new Etcd3({
      hosts: auth.endpoints,
      auth: { username: 'reader', password },
      callTimeoutMs: 2000,
    });
    closers.push(() => client.close());
    const reg = register(client, { service: 'orders', addr: '10.0.0.5:8080', id: 'ro' });
    const failed: unknown[] = [];
    reg.onFailed(e => failed.push(e.error));
    const started = Date.now();
    const err = await Promise.race([
      reg.ready().then(
        () => 'resolved',
        (e: unknown) => e,
      ),
      sleep(8000).then(() => 'still waiting after 8 s'),
    ]);
    expect(err).toBeInstanceOf(EtcdPermissionDeniedError);
    expect(failed).toHaveLength(1);
    expect(reg.state).toBe('failed');
    expect(Date.now() - started).toBeLessThan(5000);
    await reg.close();
  });
});

describe('finding 1: no zombie record after pause()', () => {
  test('a put stuck on a path delayed 2.5 s does not bring the record back after pause()', async () => {
    const slow: FaultProxy = await startProxy({ target: cluster.endpoints[0]! });
    const fast: FaultProxy = await startProxy({ target: cluster.endpoints[0]! });
    closers.push(
      () => slow.close(),
      () => fast.close(),
    );
    const raw = new RawEtcd3({ hosts: cluster.endpoints });
    closers.push(async () => raw.close());
    const key = 'zombie/z1';
    // Every change of the key, seen by etcd itself.
    const seen: Array<{ at: number; type: string }> = [];
    const watcher = await raw.watch().key(key).create();
    watcher.on('put', () => seen.push({ at: Date.now(), type: 'put' }));
    watcher.on('delete', () => seen.push({ at: Date.now(), type: 'delete' }));
    closers.push(() => watcher.cancel());

    const client = new Etcd3({ hosts: [slow.endpoint, fast.endpoint] });
    closers.push(() => client.close());
    let healthy = false;
    const reg = register(client, {
      service: 'zombie',
      addr: '10.0.0.5:8080',
      id: 'z1',
      ttlSeconds: 30,
      // Long enough for a call on the slow path (2 x 2.5 s) to complete.
      lease: { callTimeoutMs: 8000 },
      healthCheck: { fn: async () => healthy, intervalMs: 100 },
    });
    await sleep(1000); // lease granted on a healthy network; nothing published yet
    // The fast path fails, so the first put can only go over the slow one...
    slow.delay(2500);
    fast.refuse(true);
    fast.reset();
    healthy = true;
    await sleep(300);
    // ...and the fast path is back before a read's attempt timeout would cut the put off.
    fast.refuse(false);
    await Promise.race([reg.ready(), sleep(15_000)]);
    expect(reg.state).toBe('published');
    await reg.pause();
    const pausedAt = Date.now();
    // Everything sent on the slow path lands within 2.5 s; watch for 6 s.
    await sleep(6000);
    const present = (await raw.get(key).string()) !== null;
    const afterPause = seen.filter(e => e.at >= pausedAt);
    const history = JSON.stringify(afterPause.map(e => ({ ...e, at: e.at - pausedAt })));
    expect(present, `record present 6 s after pause(); changes since: ${history}`).toBe(false);
    // A late copy may appear; it must be deleted again promptly, not stay.
    afterPause.forEach((e, i) => {
      if (e.type === 'put') {
        const del = afterPause[i + 1];
        expect(del?.type, `a late copy is deleted again: ${history}`).toBe('delete');
        expect(del!.at - e.at, history).toBeLessThan(1000);
      }
    });
    await reg.close();
  }, 40_000);
});
