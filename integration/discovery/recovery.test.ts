/**
 * etcd killed and restarted while instances change: afterwards the discovered
 * set equals what etcd holds, and the discovery emitted every change exactly
 * once (compared with etcd's own history). One single-member run (etcd itself
 * goes away) and one three-member run (each member killed in turn, so the watch
 * stream moves between members).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, type Etcd3 } from '../../lib/client';
import { discover, type Discovery } from '../../lib/discovery/discovery';
import { startEtcd, type EtcdCluster } from '../../lib/testing';
import { recordChanges, replay } from '../../test/discovery/helpers';
import { discovered, etcdInstances, goRecord, sleep, waitFor } from './helpers';
import { historyChanges } from './history';

const SERVICE = 'churn';
const END_KEY = `${SERVICE}/zz-end`;

/** Puts, updates and deletes instances every ~15 ms until stopped; failures (etcd down) are ignored. */
function churn(client: Etcd3, lane: number) {
  let stop = false;
  let ok = 0;
  let failed = 0;
  let seed = 0x9e3779b9 + lane;
  const rnd = (n: number) => {
    // xorshift32: deterministic, so a failing run can be replayed
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const done = (async () => {
    for (let i = 0; !stop && i < 10_000; i++) {
      const id = `l${lane}-${rnd(6)}`;
      try {
        if (rnd(4) === 0) await client.delete().key(`${SERVICE}/${id}`);
        else
          await client
            .put(`${SERVICE}/${id}`)
            .value(goRecord(`10.0.${rnd(3)}.${rnd(250) + 1}:8080`));
        ok++;
      } catch {
        failed++;
      }
      await sleep(15);
    }
  })();
  return {
    stop: async () => {
      stop = true;
      await done;
      return { ok, failed };
    },
  };
}

describe('discovery across etcd restarts', () => {
  let cluster: EtcdCluster | undefined;
  const closers: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    await cluster?.stop();
    cluster = undefined;
  });

  async function run(members: number, faults: (c: EtcdCluster) => Promise<void>) {
    cluster = await startEtcd({ members });
    const writer = createClient({ hosts: cluster.endpoints });
    const reader = createClient({ hosts: cluster.endpoints });
    closers.push(
      () => writer.close(),
      () => reader.close(),
    );
    const d: Discovery = discover(reader, SERVICE, { stallTimeoutMs: 5000 });
    closers.push(() => d.close());
    const changes = recordChanges(d);
    const ends: string[] = [];
    d.onInvalidRecord(r => ends.push(r.key));
    await d.ready;
    const startRevision = d.stats().revision;
    // Three writers, so that one stuck on a dead member does not stop the churn.
    const loads = [0, 1, 2].map(lane => churn(writer, lane));
    await sleep(400);
    await faults(cluster);
    await sleep(600);
    const lanes = await Promise.all(loads.map(l => l.stop()));
    const writes = {
      ok: lanes.reduce((a, l) => a + l.ok, 0),
      failed: lanes.reduce((a, l) => a + l.failed, 0),
    };
    // A malformed sentinel record marks the end of the history.
    const endRevision = Number((await writer.put(END_KEY).value('end').exec()).header.revision);
    const caughtUpMs = await waitFor(
      () => ends.includes(END_KEY),
      30_000,
      'the discovery to see the end marker',
    );
    const inEtcd = await etcdInstances(writer, SERVICE);
    const expected = await historyChanges(writer, SERVICE, startRevision, endRevision);
    console.log(
      `[discovery recovery] ${members} member(s): ${writes.ok} writes ok, ${writes.failed} failed; ` +
        `${changes.length} changes emitted, ${expected.length} in etcd's history; caught up ${caughtUpMs} ms after the end marker; ` +
        `stats ${JSON.stringify(d.stats())}`,
    );
    expect(discovered(d)).toEqual(inEtcd);
    expect(changes).toEqual(expected);
    expect([...replay(changes)].map(([id, addr]) => `${id}=${addr}`).sort()).toEqual(inEtcd);
    expect(expected.length).toBeGreaterThan(15);
    return d;
  }

  it('single member: SIGKILL and restart while instances change', async () => {
    const d = await run(1, async c => {
      await c.member(0).kill('SIGKILL');
      await sleep(700);
      await c.member(0).restart();
    });
    expect(d.stats().disconnects).toBeGreaterThanOrEqual(1);
  });

  it('three members: each member SIGKILLed and restarted in turn while instances change', async () => {
    await run(3, async c => {
      for (let i = 0; i < 3; i++) {
        await c.member(i).kill('SIGKILL');
        await sleep(500);
        await c.member(i).restart();
        await sleep(300);
      }
    });
  });
});
