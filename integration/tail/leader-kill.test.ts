/**
 * Issue 12, leader loss: the leader of three is SIGKILLed under a steady load (a get
 * or a put every 50 ms). Calls that need a leader wait for the election and go through
 * as soon as a leader exists: no call waits longer than the election took + 300 ms,
 * and no read fails. The exception is a write etcd itself holds: one a follower
 * forwarded to the leader just before it died waits in etcd until etcd's request
 * timeout, and may yet be applied by the new leader, so it can only fail at its
 * deadline (counted as `heldByEtcd`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Etcd3 } from '../../lib';
import { startEtcd, type EtcdCluster } from '../../lib/testing';
import {
  TAIL_BUDGET_MS,
  measure,
  newLeaderAt,
  sleep,
  startTailLoad,
  summarize,
  watchLoopStalls,
} from './helpers';

describe('leader SIGKILLed in three members', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 3 });
    client = createClient({ hosts: cluster.endpoints });
    await client.put('tail/kill/r').value('v');
  });
  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
  });

  it('calls wait no longer than the election + 300 ms', async () => {
    const warm = startTailLoad(client, {
      prefix: 'tail/kill/warm/',
      readKey: 'tail/kill/r',
      intervalMs: 50,
    });
    await sleep(1000);
    await warm.stop();
    const leader = await cluster.leader();
    const load = startTailLoad(client, {
      prefix: 'tail/kill/',
      readKey: 'tail/kill/r',
      intervalMs: 50,
    });
    const stalls = watchLoopStalls();
    await sleep(500);
    const killedAt = Date.now();
    await leader.kill('SIGKILL');
    const electedAt = await newLeaderAt(cluster, leader);
    await sleep(3000);
    await load.stop(8000);
    const s = summarize(load.records);
    const budgetMs = TAIL_BUDGET_MS + stalls(); // + the longest stall of this process
    const waited = (r: (typeof load.records)[number]) =>
      (r.end ?? Infinity) - Math.max(r.start, electedAt);
    // A write already handed to a follower that forwarded it to the dead leader is held by
    // etcd until its own request timeout (5 s + 2 election timeouts) and may still be
    // applied by the new leader: it can only fail at its deadline. Every other call must
    // be answered within the election + 300 ms.
    const heldByEtcd = (r: (typeof load.records)[number]) =>
      r.op === 'put' &&
      r.ok === false &&
      /DEADLINE_EXCEEDED|request timed out/.test(String((r.error as Error)?.message));
    const late = load.records.filter(r => waited(r) > budgetMs && !heldByEtcd(r));
    measure('leader SIGKILL', {
      ...s,
      electionMs: electedAt - killedAt,
      budgetMs,
      heldByEtcd: load.records.filter(heldByEtcd).length,
      late: late.length,
      lateWorstMs: Math.max(0, ...late.map(waited)),
      failedWrites: load.records
        .filter(r => r.op === 'put' && r.ok === false)
        .map(r => `${r.end! - r.start} ms: ${String((r.error as Error)?.message).slice(0, 60)}`),
    });
    expect(s.readsFailed).toBe(0);
    expect(late.map(r => `${r.op} ${r.ok ? 'ok' : 'failed'} +${waited(r)} ms`)).toEqual([]);
  });
});
