/**
 * Issue 12, frozen members of a 3-member cluster (SIGSTOP: sockets stay open, nothing
 * answers), under a steady open-loop load (a get or a put every 50 ms) on a client
 * with default options that knows all three members.
 *
 * - A follower frozen: hedged reads mean no read waits on it for long (longest read
 *   <= 300 ms) and none fails; at most the one write already sent to it fails.
 * - The leader frozen: reads need a leader (linearizable), so they wait for the
 *   election, but for no more than the election itself + 300 ms; a write fails only
 *   when etcd held it past its deadline (it was sent to the frozen leader, or a
 *   follower forwarded it there), never early: our own rebuild of the frozen member's
 *   channels leaves sent writes running (one answered after the thaw succeeds).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Etcd3 } from '../../lib';
import { startEtcd, type EtcdCluster } from '../../lib/testing';
import {
  TAIL_BUDGET_MS,
  durationOf,
  measure,
  newLeaderAt,
  sleep,
  startTailLoad,
  summarize,
  watchLoopStalls,
} from './helpers';

const FREEZE_MS = 6000;
const DEADLINE_MS = 5000;

describe('one member of three frozen', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 3 });
    client = createClient({ hosts: cluster.endpoints });
    await client.put('tail/freeze/r').value('v');
  });
  afterAll(async () => {
    for (const m of cluster?.members ?? []) m.thaw();
    await client?.close();
    await cluster?.stop();
  });

  async function warm(prefix: string) {
    const w = startTailLoad(client, { prefix, readKey: 'tail/freeze/r', intervalMs: 50 });
    await sleep(1000);
    await w.stop();
    expect(summarize(w.records).failed).toBe(0);
  }

  it('a follower: longest read <= 300 ms, no read fails, at most one write fails', async () => {
    const leader = await cluster.leader();
    const victim = cluster.members.find(m => m !== leader)!;
    await warm('tail/freeze/f/warm/');
    const load = startTailLoad(client, {
      prefix: 'tail/freeze/f/',
      readKey: 'tail/freeze/r',
      intervalMs: 50,
    });
    const stalls = watchLoopStalls();
    await sleep(500);
    victim.freeze();
    try {
      await sleep(FREEZE_MS);
    } finally {
      victim.thaw();
    }
    await sleep(1000);
    await load.stop(8000);
    const s = summarize(load.records);
    const stallMs = stalls();
    measure('frozen follower', { ...s, loopStallMs: stallMs });
    expect(s.readsFailed).toBe(0);
    expect(s.longestReadMs).toBeLessThanOrEqual(TAIL_BUDGET_MS + stallMs);
    expect(s.writesFailed).toBeLessThanOrEqual(1);
  });

  it('the leader: calls wait for the election + 300 ms at most; writes fail only when held past the deadline', async () => {
    const leader = await cluster.leader();
    await warm('tail/freeze/l/warm/');
    const load = startTailLoad(client, {
      prefix: 'tail/freeze/l/',
      readKey: 'tail/freeze/r',
      intervalMs: 50,
    });
    const stalls = watchLoopStalls();
    await sleep(500);
    const frozenAt = Date.now();
    leader.freeze();
    let electedAt: number;
    try {
      electedAt = await newLeaderAt(cluster, leader);
      await sleep(Math.max(0, frozenAt + FREEZE_MS - Date.now()));
    } finally {
      leader.thaw();
    }
    await sleep(1000);
    await load.stop(8000);
    const s = summarize(load.records);
    const budgetMs = TAIL_BUDGET_MS + stalls();
    // A read is late if it ended more than 300 ms (plus the longest stall of this process) after the later of its start and the
    // election. A write already sent to the leader before it was found frozen is held
    // there (it cannot be taken back or resent): it is answered after the thaw or fails
    // at its deadline, and is counted apart (`writesHeldByFrozenLeader`).
    const after = (r: (typeof load.records)[number]) =>
      (r.end ?? Infinity) - Math.max(r.start, electedAt);
    const late = load.records.filter(r => r.op === 'get' && after(r) > budgetMs);
    const heldWrites = load.records.filter(r => r.op === 'put' && after(r) > budgetMs);
    const earlyWriteFailures = load.records.filter(
      r => r.op === 'put' && r.ok === false && durationOf(r) < DEADLINE_MS - 100,
    );
    measure('frozen leader', {
      ...s,
      electionMs: electedAt - frozenAt,
      budgetMs,
      lateReads: late.length,
      lateWorstMs: Math.max(0, ...late.map(after)),
      writesHeldByFrozenLeader: heldWrites.length,
      writesAnsweredAfterThaw: heldWrites.filter(r => r.ok).length,
      earlyWriteFailures: earlyWriteFailures.length,
      earlyWriteErrors: [
        ...new Set(
          earlyWriteFailures.map(
            r => `${durationOf(r)} ms ${String((r.error as Error)?.message).slice(0, 90)}`,
          ),
        ),
      ].slice(0, 4),
    });
    expect(s.readsFailed).toBe(0);
    expect(late.map(r => `${r.op} +${after(r)} ms`)).toEqual([]);
    expect(earlyWriteFailures.map(r => String((r.error as Error)?.message))).toEqual([]);
  });
});
