/**
 * Issue 12, "slow is not dead": one member behind a proxy that turns slow (+800 ms
 * and +2,000 ms each way, round trips of 1.6 s and 4 s, both inside the 5 s default
 * deadline) while a steady load runs on an already connected client with default
 * options. Raw etcd3 loses no call here; neither may we. The slow spell lasts 12 s,
 * longer than one keepalive interval plus its timeout (6 s + 4 s by default), so a
 * keepalive timeout shorter than the round trip would show.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startProxiedNode, type ProxiedNode } from '../shared';
import { measure, sleep, startTailLoad, summarize } from './helpers';

const SLOW_SPELL_MS = 12_000;

describe('a slow link is not a dead one (one member)', () => {
  let node: ProxiedNode | undefined;
  afterEach(async () => {
    await node?.close();
    node = undefined;
  });

  for (const msEachWay of [800, 2000]) {
    it(`+${msEachWay} ms each way for 12 s: no call fails`, async () => {
      node = await startProxiedNode();
      const { proxy, client } = node;
      await client.put('tail/slow/r').value('v');
      // A normal start: the client has seen fast round trips before the link turns slow.
      const warm = startTailLoad(client, { prefix: 'tail/slow/w/warm/', readKey: 'tail/slow/r' });
      await sleep(1000);
      await warm.stop();
      expect(summarize(warm.records).failed).toBe(0);

      proxy.delay(msEachWay);
      const load = startTailLoad(client, { prefix: 'tail/slow/w/', readKey: 'tail/slow/r' });
      await sleep(SLOW_SPELL_MS);
      await load.stop(8000);
      proxy.pass();
      const s = summarize(load.records);
      measure(`slow link +${msEachWay} ms each way`, s);
      expect(s.failed).toBe(0);
      // Every call ended within its deadline (a call still pending counts as Infinity).
      expect(s.longestReadMs).toBeLessThanOrEqual(5500);
      expect(s.longestWriteMs).toBeLessThanOrEqual(5500);
    }, 60_000);
  }
});
