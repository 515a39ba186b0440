/**
 * startEtcd: single node and 3-member clusters, member handles (kill, restart,
 * stop, freeze/thaw), leader discovery, teardown.
 */
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { etcdctl, isPidAlive, startEtcd, type EtcdCluster } from '../../lib/testing';
import { memberStatus, requestJson } from '../../lib/testing/etcd-http';
import { expectNothingLeft } from './helpers';

const seenPids: number[] = [];
const remember = (cluster: EtcdCluster) => {
  for (const m of cluster.members) if (m.pid) seenPids.push(m.pid);
};

async function get(
  endpoints: string | string[],
  key: string,
  serializable = false,
): Promise<string> {
  const args = ['get', key, '--print-value-only', ...(serializable ? ['--consistency=s'] : [])];
  const r = await etcdctl(endpoints, args, { timeoutMs: 10_000 });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

async function put(endpoints: string | string[], key: string, value: string): Promise<void> {
  const r = await etcdctl(endpoints, ['put', key, value], { timeoutMs: 10_000 });
  expect(r.code, r.stderr).toBe(0);
}

/**
 * Polls a serializable (member-local) read until the member has applied `value`,
 * for at most 5 s; resolves to what it last read.
 */
async function localValue(url: string, key: string, value: string): Promise<string> {
  const deadline = Date.now() + 5000;
  let last = '';
  do {
    const r = await etcdctl(url, ['get', key, '--print-value-only', '--consistency=s']);
    last = r.stdout.trim();
    if (last === value) break;
    await new Promise(resolve => setTimeout(resolve, 50));
  } while (Date.now() < deadline);
  return last;
}

afterAll(() => expectNothingLeft(seenPids));

describe('single node', () => {
  test('starts healthy on 127.0.0.1, serves reads and writes, and stop() removes everything', async () => {
    const cluster = await startEtcd();
    remember(cluster);
    const m = cluster.member(0);
    expect(cluster.endpoints).toEqual([`http://127.0.0.1:${m.clientPort}`]);
    expect(m.clientUrl).toBe(cluster.endpoints[0]);
    expect(m.peerUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(m.running).toBe(true);
    expect(isPidAlive(m.pid!)).toBe(true);
    expect(existsSync(m.dataDir)).toBe(true);
    if (process.env.ETCD3R_RUN_DIR)
      expect(m.dataDir.startsWith(process.env.ETCD3R_RUN_DIR)).toBe(true);
    expect(await requestJson(`${m.clientUrl}/health`)).toMatchObject({ health: 'true' });

    await put(cluster.endpoints, 'greeting', 'hello');
    expect(await get(cluster.endpoints, 'greeting')).toBe('hello');
    expect(await cluster.leader()).toBe(m);

    const pid = m.pid!;
    await cluster.stop();
    expect(isPidAlive(pid)).toBe(false);
    expect(m.running).toBe(false);
    expect(m.pid).toBeUndefined();
    expect(existsSync(m.dataDir)).toBe(false);
    await cluster.stop(); // idempotent
  });

  test('kill (SIGKILL) + restart keeps the data dir, ports and data', async () => {
    await using cluster = await startEtcd();
    remember(cluster);
    const m = cluster.member(0);
    await put(cluster.endpoints, 'durable', 'v1');
    const before = { pid: m.pid!, port: m.clientPort, dir: m.dataDir };

    await m.kill();
    expect(m.running).toBe(false);
    expect(isPidAlive(before.pid)).toBe(false);
    const down = await etcdctl(
      cluster.endpoints,
      ['get', 'durable', '--dial-timeout=500ms', '--command-timeout=1s'],
      {
        timeoutMs: 10_000,
      },
    );
    expect(down.code).not.toBe(0);

    await m.restart();
    remember(cluster);
    expect(m.running).toBe(true);
    expect(m.pid).not.toBe(before.pid);
    expect({ port: m.clientPort, dir: m.dataDir }).toEqual({ port: before.port, dir: before.dir });
    expect(await get(cluster.endpoints, 'durable')).toBe('v1');
  });

  test('stop() is graceful, restart() brings it back; restart() of a running member restarts it', async () => {
    await using cluster = await startEtcd();
    remember(cluster);
    const m = cluster.member(0);
    await put(cluster.endpoints, 'k', 'v');
    const first = m.pid!;
    await m.stop();
    expect(isPidAlive(first)).toBe(false);
    await m.stop(); // no-op when stopped

    await m.restart();
    const second = m.pid!;
    expect(second).not.toBe(first);
    await m.restart(); // running: stop + start
    remember(cluster);
    expect(m.pid).not.toBe(second);
    expect(isPidAlive(second)).toBe(false);
    expect(await get(cluster.endpoints, 'k')).toBe('v');
  });

  test('freeze: a request hangs while frozen and is answered after thaw', async () => {
    await using cluster = await startEtcd();
    remember(cluster);
    const m = cluster.member(0);
    await put(cluster.endpoints, 'cold', 'ice');

    m.freeze();
    expect(m.running).toBe(true);
    let settled = false;
    const pending = requestJson(`${m.clientUrl}/v3/kv/range`, {
      method: 'POST',
      body: { key: Buffer.from('cold').toString('base64') },
      timeoutMs: 15_000,
    }).finally(() => (settled = true));
    // A frozen process cannot answer: a short health probe times out...
    await expect(requestJson(`${m.clientUrl}/health`, { timeoutMs: 300 })).rejects.toThrow(
      /did not answer/,
    );
    // ...and the long request is still pending.
    expect(settled).toBe(false);

    m.thaw();
    const reply = await pending;
    expect(Buffer.from(reply.kvs[0].value, 'base64').toString()).toBe('ice');
    await m.waitHealthy(5000);
  });

  test('stop() of a frozen member still terminates it', async () => {
    const cluster = await startEtcd();
    remember(cluster);
    const m = cluster.member(0);
    const pid = m.pid!;
    m.freeze();
    await m.stop();
    expect(isPidAlive(pid)).toBe(false);
    await cluster.stop();
  });
});

describe('3-member cluster', () => {
  let cluster: EtcdCluster;

  test('starts, elects one leader, and every member serves the same data', async () => {
    cluster = await startEtcd({ members: 3 });
    remember(cluster);
    expect(cluster.endpoints).toHaveLength(3);
    expect(new Set(cluster.members.map(m => m.clientPort)).size).toBe(3);
    expect(new Set(cluster.members.map(m => m.dataDir)).size).toBe(3);
    expect(cluster.members.map(m => m.name)).toEqual(['m0', 'm1', 'm2']);

    const leader = await cluster.leader();
    const statuses = await Promise.all(cluster.members.map(m => memberStatus(m.clientUrl)));
    expect(new Set(statuses.map(s => s.leaderId)).size).toBe(1);
    expect(statuses[leader.index]!.memberId).toBe(statuses[0]!.leaderId);

    await put(cluster.endpoints, 'shared', 'abc');
    // A follower applies a committed write a moment later: poll its local read.
    for (const m of cluster.members)
      expect(await localValue(m.clientUrl, 'shared', 'abc')).toBe('abc');
  });

  test.each([0, 1, 2])('member %i: kill + restart keeps its identity and data', async i => {
    const m = cluster.member(i);
    const id = (await memberStatus(m.clientUrl)).memberId;
    await put(cluster.endpoints, `before-${i}`, `v${i}`);
    // The member has applied (so persisted) the key before it is killed.
    expect(await localValue(m.clientUrl, `before-${i}`, `v${i}`)).toBe(`v${i}`);
    const pid = m.pid!;
    await m.kill();
    expect(isPidAlive(pid)).toBe(false);
    // The other two still have quorum (once a leader among them is known: a write sent
    // while the killed member was leader is lost with it and times out server-side).
    expect((await cluster.leader(15_000)).index).not.toBe(i);
    await put(
      cluster.endpoints.filter((_, j) => j !== i),
      `during-${i}`,
      `d${i}`,
    );

    await m.restart();
    remember(cluster);
    expect((await memberStatus(m.clientUrl)).memberId).toBe(id);
    // Served from its own data dir right after restart (serializable = local read).
    expect(await get(m.clientUrl, `before-${i}`, true)).toBe(`v${i}`);
    expect(await get(m.clientUrl, `during-${i}`)).toBe(`d${i}`);
  });

  test('killing the leader makes another member leader', async () => {
    const old = await cluster.leader();
    await old.kill();
    const next = await cluster.leader(15_000);
    expect(next).not.toBe(old);
    expect(next.running).toBe(true);
    await old.restart();
    remember(cluster);
  });

  test('member(i) out of range throws', () => {
    expect(() => cluster.member(3)).toThrow(/out of range/);
  });

  test('stop() kills every member and removes every data dir', async () => {
    const pids = cluster.members.map(m => m.pid!);
    const dirs = cluster.members.map(m => m.dataDir);
    await cluster[Symbol.asyncDispose]();
    for (const pid of pids) expect(isPidAlive(pid)).toBe(false);
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
  });
});
