import fc from 'fast-check';
import { ClientClosedError as Etcd3ClientClosedError } from 'etcd3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { discover, type Discovery } from '../../lib/discovery/discovery';
import { emptyResult, InstanceSet } from '../../lib/discovery/instance-set';
import { goNamingCodec } from '../../lib/service-record';
import { watchHubStats } from '../../lib/watch/hub-registry';
import { ClientClosedError, InvalidOptionError } from '../../lib/errors';
import { captureLogger, recordChanges, replay, until } from './helpers';
import { FakeEtcdStore } from '../fakes/fake-etcd-store';

const rec = (addr: string) => JSON.stringify({ Op: 0, Addr: addr, Metadata: null });
const fast = { retryInitialDelayMs: 1, retryMaxDelayMs: 2 };
const opened: Discovery[] = [];
const start = (etcd: FakeEtcdStore, service = 'svc', options = {}) => {
  const d = discover(etcd.client, service, { ...fast, ...options });
  opened.push(d);
  return d;
};
/** What etcd holds for the service, as id -> addr (valid records only). */
const expected = (etcd: FakeEtcdStore, service = 'svc') =>
  new Map(
    [...etcd.stateAt()]
      .filter(([k, v]) => k.startsWith(`${service}/`) && v.value.startsWith('{"Op":0'))
      .map(([k, v]) => [k.slice(service.length + 1), JSON.parse(v.value).Addr as string]),
  );
const snapshotMap = (d: Discovery) => new Map(d.snapshot().map(i => [i.id, i.addr]));

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(opened.splice(0).map(d => d.close()));
});

describe('discover()', () => {
  it('lists, then watches from the listing revision + 1 with require-leader metadata', async () => {
    const etcd = new FakeEtcdStore();
    etcd.put('svc/a', rec('10.0.0.1:80'));
    etcd.put('svc/b', rec('10.0.0.2:80'));
    etcd.put('other/c', rec('10.0.0.3:80'));
    const d = start(etcd);
    const changes = recordChanges(d);
    await d.ready;
    expect(changes).toEqual(['added:a=10.0.0.1:80', 'added:b=10.0.0.2:80']);
    await until(() => etcd.opened[0]?.watches.size === 1);
    const create = etcd.opened[0]!.written.find(w => w.create_request)!.create_request;
    expect(create.key.toString()).toBe('svc/');
    expect(create.range_end.toString()).toBe('svc0');
    expect(Number(create.start_revision)).toBe(etcd.revision + 1);
    expect(create.progress_notify).toBe(true);
    expect((etcd.opened[0] as any).metadata.get('hasleader')).toEqual(['true']);
  });

  it('emits live changes and a snapshot per batch', async () => {
    const etcd = new FakeEtcdStore();
    const d = start(etcd);
    const changes = recordChanges(d);
    const snapshots: string[][] = [];
    d.onChange(s => snapshots.push(s.map(i => i.id)));
    await d.ready;
    await until(() => etcd.opened[0]?.watches.size === 1);
    etcd.put('svc/a', rec('10.0.0.1:80'));
    etcd.commit([
      { type: 'PUT', key: 'svc/b', value: rec('10.0.0.2:80') },
      { type: 'PUT', key: 'svc/a', value: rec('10.0.0.9:80') },
    ]);
    etcd.delete('svc/b');
    await until(() => changes.length === 4);
    expect(changes).toEqual([
      'added:a=10.0.0.1:80',
      'added:b=10.0.0.2:80',
      'updated:a=10.0.0.9:80',
      'removed:b=10.0.0.2:80',
    ]);
    expect(snapshots).toEqual([['a'], ['a', 'b'], ['a']]);
    expect(d.stats().revision).toBe(etcd.revision);
  });

  it('resumes after a broken stream from the last applied revision: nothing skipped, nothing twice', async () => {
    const etcd = new FakeEtcdStore();
    etcd.replayOnCreate = 5; // a server that re-sends old events on a new watch
    const d = start(etcd);
    const changes = recordChanges(d);
    await d.ready;
    await until(() => etcd.opened[0]?.watches.size === 1);
    etcd.put('svc/a', rec('10.0.0.1:80'));
    etcd.put('svc/b', rec('10.0.0.2:80'));
    await until(() => changes.length === 2);
    const applied = d.stats().revision;
    etcd.opened[0]!.fail();
    etcd.put('svc/c', rec('10.0.0.3:80')); // while disconnected
    etcd.delete('svc/a');
    await until(() => changes.length === 4, 2000, 'the changes made while disconnected');
    const recreate = etcd.opened[1]!.written.find(w => w.create_request)!.create_request;
    expect(Number(recreate.start_revision)).toBe(applied + 1);
    expect(changes).toEqual([
      'added:a=10.0.0.1:80',
      'added:b=10.0.0.2:80',
      'added:c=10.0.0.3:80',
      'removed:a=10.0.0.1:80',
    ]);
    expect(d.stats().duplicatesDropped).toBeGreaterThan(0);
    expect(d.stats().disconnects).toBe(1);
    expect(etcd.markFailed.map(m => m.code)).toEqual([14]);
    expect(snapshotMap(d)).toEqual(expected(etcd));
  });

  it('a per-watch progress notification advances the resume revision', async () => {
    const etcd = new FakeEtcdStore();
    const d = start(etcd);
    await d.ready;
    await until(() => etcd.opened[0]?.watches.size === 1);
    etcd.put('other/x', rec('10.0.0.1:80'));
    etcd.put('other/y', rec('10.0.0.1:80'));
    etcd.opened[0]!.notifyProgress();
    await until(() => d.stats().revision === etcd.revision);
  });

  it('re-lists after compaction while disconnected and emits only the difference', async () => {
    const etcd = new FakeEtcdStore();
    etcd.put('svc/a', rec('10.0.0.1:80'));
    etcd.put('svc/b', rec('10.0.0.2:80'));
    const d = start(etcd);
    const changes = recordChanges(d);
    const resyncs: string[] = [];
    d.onResync(e => resyncs.push(e.reason));
    await d.ready;
    await until(() => etcd.opened[0]?.watches.size === 1);
    etcd.opened[0]!.stalled = true; // connection dead: the hub gets nothing
    etcd.opened[0]!.fail();
    etcd.put('svc/a', rec('10.0.0.7:80'));
    etcd.put('svc/tmp', rec('10.0.0.5:80')); // added and removed inside the gap
    etcd.delete('svc/tmp');
    etcd.delete('svc/b');
    etcd.put('svc/c', rec('10.0.0.3:80'));
    etcd.compact();
    await until(
      () => resyncs.length === 1 && etcd.opened.at(-1)!.watches.size === 1,
      2000,
      're-list and re-watch',
    );
    expect(resyncs[0]).toMatch(/^compacted \(compact revision \d+, needed \d+\)$/);
    expect(changes.slice(2).sort()).toEqual([
      'added:c=10.0.0.3:80',
      'removed:b=10.0.0.2:80',
      'updated:a=10.0.0.7:80',
    ]);
    expect(snapshotMap(d)).toEqual(expected(etcd));
    etcd.put('svc/d', rec('10.0.0.4:80'));
    await until(() => changes.length === 6);
    expect(d.stats().resyncs).toBe(1);
  });

  it('skips malformed records with a warning event, and adds the key once it becomes valid', async () => {
    const etcd = new FakeEtcdStore();
    etcd.put('svc/bad', 'not json');
    const logger = captureLogger();
    const d = start(etcd, 'svc', { logger });
    const invalid: string[] = [];
    d.onInvalidRecord(r => invalid.push(r.key));
    const changes = recordChanges(d);
    await d.ready;
    await until(() => etcd.opened[0]?.watches.size === 1);
    etcd.put('svc/worse', '{"Op":0,"Addr":42}');
    etcd.put('svc/bad', rec('10.0.0.1:80'));
    await until(() => changes.length === 1);
    expect(invalid).toEqual(['svc/bad', 'svc/worse']);
    expect(changes).toEqual(['added:bad=10.0.0.1:80']);
    expect(
      logger.lines.filter(([level, , msg]) => level === 'warn' && /malformed/.test(msg ?? '')),
    ).toHaveLength(2);
  });

  it('retries a failing listing until it succeeds', async () => {
    const etcd = new FakeEtcdStore();
    etcd.put('svc/a', rec('10.0.0.1:80'));
    etcd.failLists = 3;
    const d = start(etcd);
    await d.ready;
    expect(d.snapshot().map(i => i.id)).toEqual(['a']);
    expect(etcd.rangeCalls).toBe(4);
  });

  it('reads large services in pages at one revision', async () => {
    const etcd = new FakeEtcdStore();
    for (let i = 0; i < 25; i++)
      etcd.put(`svc/i${String(i).padStart(2, '0')}`, rec(`10.0.0.1:${1000 + i}`));
    const d = start(etcd, 'svc', { pageSize: 10 });
    await d.ready;
    expect(d.snapshot()).toHaveLength(25);
    expect(etcd.rangeCalls).toBe(3);
  });

  it('detects a stalled stream with a progress request and resumes on a new one', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const etcd = new FakeEtcdStore();
    const d = start(etcd, 'svc', { stallTimeoutMs: 1000, progressTimeoutMs: 200 });
    const changes = recordChanges(d);
    await vi.advanceTimersByTimeAsync(10);
    await d.ready;
    await vi.advanceTimersByTimeAsync(10);
    expect(etcd.opened[0]!.watches.size).toBe(1);
    // A quiet but healthy stream: the progress request is answered, nothing else happens.
    await vi.advanceTimersByTimeAsync(1100);
    expect(etcd.opened[0]!.written.filter(w => w.progress_request)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(500);
    expect(etcd.opened).toHaveLength(1);
    // Now it stalls: writes vanish, nothing comes back.
    etcd.opened[0]!.stalled = true;
    etcd.put('svc/a', rec('10.0.0.1:80'));
    await vi.advanceTimersByTimeAsync(1000 + 200 + 50);
    expect(etcd.markFailed.at(-1)).toMatchObject({ code: 14 });
    expect(etcd.markFailed.at(-1)!.message).toMatch(/stalled/);
    await vi.advanceTimersByTimeAsync(20);
    expect(etcd.opened).toHaveLength(2);
    expect(changes).toEqual(['added:a=10.0.0.1:80']);
  });

  it('shares one watch stream between many discoveries of one client', async () => {
    const etcd = new FakeEtcdStore();
    const client = etcd.client;
    const ds = Array.from({ length: 200 }, (_, i) => discover(client, `svc${i}`, fast));
    opened.push(...ds);
    await Promise.all(ds.map(d => d.ready));
    await until(() => etcd.opened[0]?.watches.size === 200);
    expect(etcd.opened).toHaveLength(1);
    expect(watchHubStats(client.pool)).toMatchObject({ streamsOpen: 1, watches: 200 });
    etcd.put('svc7/x', rec('10.0.0.1:80'));
    await until(() => ds[7]!.snapshot().length === 1);
    expect(ds.filter(d => d.snapshot().length > 0)).toHaveLength(1);
    await Promise.all(ds.map(d => d.close()));
    expect(watchHubStats(client.pool)).toMatchObject({ streamsOpen: 0, watches: 0 });
    expect(etcd.opened[0]!.cancelled).toBe(true);
  });

  it('close() stops events, cancels the watch, and rejects ready if still pending', async () => {
    const etcd = new FakeEtcdStore();
    etcd.failLists = 1_000_000;
    const pending = start(etcd);
    await pending.close();
    await expect(pending.ready).rejects.toBeInstanceOf(ClientClosedError);
    const again = pending.close();
    expect(again).toBe(pending.close());

    const etcd2 = new FakeEtcdStore();
    const d = start(etcd2);
    const changes = recordChanges(d);
    await d.ready;
    await until(() => etcd2.opened[0]?.watches.size === 1);
    await d.close();
    etcd2.put('svc/a', rec('10.0.0.1:80'));
    await new Promise(r => setTimeout(r, 20));
    expect(changes).toEqual([]);
    expect(etcd2.opened[0]!.cancelled).toBe(true);
  });

  it('stops (ready rejects) when the etcd client was closed, instead of retrying forever', async () => {
    const etcd = new FakeEtcdStore();
    etcd.listError = new Etcd3ClientClosedError('KV');
    const d = start(etcd);
    await expect(d.ready).rejects.toBeInstanceOf(ClientClosedError);
    await new Promise(r => setTimeout(r, 20));
    expect(etcd.rangeCalls).toBe(1);
  });

  it('rejects bad arguments before any I/O', () => {
    const etcd = new FakeEtcdStore();
    expect(() => discover(etcd.client, 'bad name')).toThrow(InvalidOptionError);
    expect(() => discover(etcd.client, 'svc', { prefix: 'no-slash' })).toThrow(InvalidOptionError);
    expect(() => discover(etcd.client, 'svc', { stallTimeoutMs: -1 })).toThrow(InvalidOptionError);
    expect(() => discover(etcd.client, 'svc', { codec: {} as any })).toThrow(InvalidOptionError);
    expect(() => discover({} as any, 'svc')).toThrow(InvalidOptionError);
    expect(etcd.rangeCalls).toBe(0);
  });

  it(
    'property: with breaks, replays and compactions, the set converges to etcd and events replay to it',
    { timeout: 60_000 },
    async () => {
      type Step = { kind: 'put' | 'delete' | 'break' | 'compact'; id: number; port: number };
      const step = fc.record({
        kind: fc.constantFrom<Step['kind']>(
          'put',
          'put',
          'put',
          'delete',
          'break',
          'break',
          'compact',
        ),
        id: fc.integer({ min: 0, max: 5 }),
        port: fc.integer({ min: 1, max: 4 }),
      });
      await fc.assert(
        fc.asyncProperty(
          fc.array(step, { maxLength: 30 }),
          fc.integer({ min: 0, max: 6 }),
          async (steps, replayOnCreate) => {
            const etcd = new FakeEtcdStore();
            etcd.replayOnCreate = replayOnCreate;
            const d = discover(etcd.client, 'svc', fast);
            const changes = recordChanges(d);
            await d.ready;
            try {
              for (const s of steps) {
                if (s.kind === 'put') etcd.put(`svc/i${s.id}`, rec(`10.0.0.1:${s.port}`));
                else if (s.kind === 'delete') etcd.delete(`svc/i${s.id}`);
                else if (s.kind === 'break') etcd.opened.at(-1)?.fail();
                else etcd.compact();
                await new Promise(r => setImmediate(r));
              }
              // Every step changed the service's keys, so the discovery has caught up once it applied the last revision.
              await until(() => d.stats().revision >= etcd.revision, 3000, 'catch-up');
              const sorted = (m: Map<string, string>) => JSON.stringify([...m].sort());
              await until(
                () => sorted(snapshotMap(d)) === sorted(expected(etcd)),
                3000,
                'convergence',
              );
              expect(replay(changes)).toEqual(expected(etcd));
              if (!steps.some(s => s.kind === 'compact')) {
                // No re-list happened: the events must be exactly etcd's history, each change once.
                const set = new InstanceSet('', 'svc', goNamingCodec);
                const out = emptyResult();
                for (const h of etcd.history)
                  set.apply(h.key, h.type === 'PUT' ? h.value : undefined, h.rev, out);
                expect(changes).toEqual(
                  out.changes.map(c => `${c.type}:${c.instance.id}=${c.instance.addr}`),
                );
              }
            } finally {
              await d.close();
            }
          },
        ),
        { numRuns: 100, endOnFailure: true },
      );
    },
  );
});
