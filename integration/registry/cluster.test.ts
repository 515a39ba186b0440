/**
 * In a 3-member cluster, the member holding the registration's keepalive stream
 * is killed (and, separately, the leader): a separate client polling every 50 ms
 * never sees the record missing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Etcd3 } from '../../lib/client';
import { register, type Registration } from '../../lib/registry';
import { startEtcd, type EtcdCluster, type EtcdMember } from '../../lib/testing';
import { read, sleep, waitFor } from './helpers';

const TTL = 3;

describe('registration in a 3-member cluster', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let observer: Etcd3;
  let reg: Registration;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 3 });
    client = createClient({ hosts: cluster.endpoints });
    observer = createClient({ hosts: cluster.endpoints });
    reg = register(client, { service: 'cluster', addr: '10.2.2.2:8080', id: 'a', ttlSeconds: TTL });
    await reg.ready();
  });
  afterAll(async () => {
    await reg?.close();
    await client?.close();
    await observer?.close();
    await cluster?.stop();
  });

  /** Polls the record every 50 ms for `ms`, calling `fault` after 500 ms; counts reads that found it missing. */
  async function watchWhile(ms: number, fault: () => Promise<void>) {
    const value = await read(observer, reg.key);
    expect(value).toContain('"Addr":"10.2.2.2:8080"');
    let missing = 0;
    let ok = 0;
    let failed = 0;
    const end = Date.now() + ms;
    const faulted = sleep(500).then(fault);
    for (let i = 0; i < ms / 50 + 10 && Date.now() < end; i++) {
      const v = await read(observer, reg.key);
      if (v === null) missing++;
      else if (v === undefined) failed++;
      else ok++;
      await sleep(50);
    }
    await faulted;
    return { missing, ok, failed };
  }

  const memberAt = (peer: string | undefined): EtcdMember | undefined =>
    cluster.members.find(m => peer?.endsWith(`:${m.clientPort}`));

  it('never disappears when the member holding its keepalive stream is killed', async () => {
    await waitFor(() => memberAt(reg.keepalivePeer) !== undefined, 5000);
    const victim = memberAt(reg.keepalivePeer)!;
    const r = await watchWhile(2 * TTL * 1000 + 2000, () => victim.kill());
    console.log(
      `[registry cluster/kill-stream-member] killed ${victim.name}: reads ok ${r.ok}, missing ${r.missing}, failed ${r.failed}`,
    );
    expect(r.missing).toBe(0);
    expect(r.ok).toBeGreaterThan(50);
    expect(reg.state).toBe('published');
    await waitFor(
      () => memberAt(reg.keepalivePeer) !== undefined && memberAt(reg.keepalivePeer) !== victim,
      5000,
    );
    await victim.restart();
    await victim.waitHealthy();
  });

  it('never disappears when the leader is killed', async () => {
    const leader = await cluster.leader();
    const r = await watchWhile(2 * TTL * 1000 + 2000, () => leader.kill());
    console.log(
      `[registry cluster/kill-leader] killed ${leader.name}: reads ok ${r.ok}, missing ${r.missing}, failed ${r.failed}`,
    );
    expect(r.missing).toBe(0);
    expect(r.ok).toBeGreaterThan(50);
    expect(reg.state).toBe('published');
  });
});
