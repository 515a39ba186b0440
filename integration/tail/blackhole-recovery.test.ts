/**
 * A dead network path that heals: one member behind a proxy that drops every byte of
 * open connections and answers no new connection (a cable pulled, a VM migrated) for
 * 10 s, then forwards again. Calls during the outage fail within their deadline; once
 * the path is back, a call started after the heal succeeds within 1 s: the client must
 * not sit out a connection attempt that was started into the dead path (a stuck
 * handshake is abandoned or overtaken, never waited for to its doubled limit).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startProxiedNode, type ProxiedNode } from '../shared';
import { measure, sleep, startTailLoad, summarize } from './helpers';

const OUTAGE_MS = 10_000;

describe('blackhole, then heal (one member)', () => {
  let node: ProxiedNode | undefined;
  afterEach(async () => {
    await node?.close();
    node = undefined;
  });

  it('a call started after the heal succeeds within 1 s', async () => {
    node = await startProxiedNode();
    const { proxy, client } = node;
    await client.put('tail/bh/r').value('v');
    // A running service: a watch open beside the calls.
    const watcher = await client.watch().prefix('tail/bh/events/').create();

    const load = startTailLoad(client, { prefix: 'tail/bh/w/', readKey: 'tail/bh/r' });
    await sleep(3000);
    proxy.blackhole('both');
    proxy.blackholeNew(true);
    await sleep(OUTAGE_MS);
    // TCP connections the client opened through the proxy and still holds.
    const connectionsAtHeal = proxy.connectionCount;
    proxy.pass();
    const healedAt = Date.now();
    await sleep(3000);
    const connectionsAfter = proxy.connectionCount;
    await load.stop(6000);
    await watcher.cancel();

    const after = load.records.filter(r => r.start >= healedAt);
    const firstOk = after.find(r => r.ok === true);
    const recoveredMs = firstOk ? firstOk.end! - healedAt : Infinity;
    const during = load.records.filter(
      r => r.start < healedAt - 5500 && r.start > healedAt - OUTAGE_MS,
    );
    const s = summarize(load.records);
    measure('blackhole 10 s then heal', {
      recoveredMs,
      connectionsAtHeal,
      connectionsAfter,
      failedAfterHeal: after
        .filter(r => r.ok !== true)
        .map(
          r => `+${r.start - healedAt}..+${r.end! - healedAt} ms ${String(r.error).slice(0, 90)}`,
        ),
      callsAfterHeal: after.length,
      ...s,
    });
    expect(recoveredMs).toBeLessThanOrEqual(1000);
    // During the outage calls fail (typed, within their deadline) rather than hang.
    expect(during.length).toBeGreaterThan(0);
    expect(during.every(r => r.ok === false && r.end! - r.start <= 5500)).toBe(true);
    // After the first success, no call started after the heal fails.
    expect(after.filter(r => r.start > firstOk!.end! && r.ok !== true)).toEqual([]);
  }, 60_000);
});
