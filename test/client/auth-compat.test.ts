/**
 * etcd3 auth behaviour users rely on: `auth.callOptions` apply to the authenticate
 * call, and etcd3's `client.pool.authenticator.awaitingMetadata` (which etcd3's own
 * suite sets to inject a bad token) works on our `Etcd3`. Real grpc-js servers
 * serving etcd's proto.
 */
import { Metadata, status as Status } from '@grpc/grpc-js';
import { GRPCDeadlineExceededError } from 'etcd3';
import { describe, expect, test } from 'vitest';
import { FakeEtcd } from '../fakes/fake-etcd';
import { withClients } from '../fakes/client-harness';
import { timed } from '../fakes/pool-harness';

const { fakes, client } = withClients();

/** A fake that issues token `t<n>` per authentication and rejects any other token. */
function withTokens(fake: FakeEtcd): FakeEtcd {
  let issued = 0;
  const valid = new Set<string>();
  fake.on('Auth.authenticate', () => {
    const token = `t${++issued}`;
    valid.add(token);
    return { ok: { token } };
  });
  fake.on('KV.put', (_req, md) =>
    valid.has(String(md.get('token')[0]))
      ? { ok: {} }
      : { code: Status.INVALID_ARGUMENT, details: 'etcdserver: invalid auth token' },
  );
  return fake;
}

describe('auth.callOptions', () => {
  test('apply to the authenticate call: a deadline already past fails the call, nothing sent', async () => {
    const [a] = await fakes(1);
    withTokens(a);
    const c = client({
      hosts: a.url,
      auth: { username: 'u', password: 'p', callOptions: { deadline: new Date(0) } },
    });
    const { error } = await timed(() => c.put('foo').value('bar').exec());
    expect(error).toBeInstanceOf(GRPCDeadlineExceededError);
    expect(a.count('Auth.authenticate')).toBe(0);
    expect(a.count('KV.put')).toBe(0);
  });

  test('without them, the same client authenticates and puts', async () => {
    const [a] = await fakes(1);
    withTokens(a);
    const c = client({
      hosts: a.url,
      auth: { username: 'u', password: 'p', callOptions: { deadline: Date.now() + 5000 } },
    });
    await c.put('foo').value('bar');
    expect(a.count('Auth.authenticate')).toBe(1);
    expect(a.received.find(r => r.method === 'Auth.authenticate')?.request).toMatchObject({
      name: 'u',
      password: 'p',
    });
  });
});

describe('client.pool.authenticator (as etcd3 has it)', () => {
  test('a bad token injected through awaitingMetadata is replaced and the put goes through', async () => {
    const [a] = await fakes(1);
    withTokens(a);
    const c = client({ hosts: a.url, auth: { username: 'u', password: 'p' } });
    const auth = (c as any).pool.authenticator;
    const badMeta = new Metadata();
    badMeta.add('token', 'lol');
    auth.awaitingMetadata = Promise.resolve(badMeta);

    await c.put('foo').value('bar'); // should retry and not throw

    const updated: Metadata = await auth.awaitingMetadata;
    expect(updated.get('token')).not.toEqual(badMeta.get('token'));
    expect(updated.get('token')).toEqual(['t1']);
    const tokens = a.received.filter(r => r.method === 'KV.put').map(r => r.metadata.get('token'));
    expect(tokens).toEqual([['lol'], ['t1']]);
  });

  test('invalidateMetadata() and getMetadata() behave as etcd3s', async () => {
    const [a] = await fakes(1);
    withTokens(a);
    const c = client({ hosts: a.url, auth: { username: 'u', password: 'p' } });
    const auth = (c as any).pool.authenticator;
    expect(auth.awaitingMetadata).toBeNull();
    expect(((await auth.getMetadata()) as Metadata).get('token')).toEqual(['t1']);
    auth.invalidateMetadata();
    expect(auth.awaitingMetadata).toBeNull();
    await c.put('foo').value('bar');
    expect(((await auth.awaitingMetadata) as Metadata).get('token')).toEqual(['t2']);
  });
});
