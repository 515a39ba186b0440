import { ClientClosedError as Etcd3ClientClosedError } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { WatchHub, type WatchTarget } from '../../lib/watch/watch-hub';
import { noopLogger } from '../../lib/logger';
import { FakeEtcdStore } from '../fakes/fake-etcd-store';
import { until } from '../discovery/helpers';

const timing = { stallTimeoutMs: 60_000, progressTimeoutMs: 5_000 };
const hubFor = (etcd: FakeEtcdStore) =>
  new WatchHub(etcd.client.pool, {
    requireLeader: true,
    retryInitialDelayMs: 1,
    retryMaxDelayMs: 2,
    logger: noopLogger,
  });

function target(key: string, startRevision = 1) {
  const seen = { responses: [] as any[], canceled: [] as any[], disconnects: 0 };
  const t: WatchTarget = {
    key: Buffer.from(key),
    rangeEnd: Buffer.from(
      key.slice(0, -1) + String.fromCharCode(key.charCodeAt(key.length - 1) + 1),
    ),
    startRevision: () => startRevision,
    onResponse: res => seen.responses.push(res),
    onCanceled: res => seen.canceled.push(res),
    onDisconnected: () => seen.disconnects++,
  };
  return { t, seen };
}

describe('WatchHub', () => {
  it('creates watches one at a time, each from the revision its owner asks for', async () => {
    const etcd = new FakeEtcdStore();
    const hub = hubFor(etcd);
    const a = target('a/', 5);
    const b = target('b/', 9);
    hub.attach(a.t, timing);
    hub.attach(b.t, timing);
    await until(() => etcd.opened[0]?.watches.size === 2);
    const creates = etcd.opened[0]!.written.filter(w => w.create_request).map(w => [
      w.create_request.key.toString(),
      w.create_request.start_revision,
    ]);
    expect(creates).toEqual([
      ['a/', '5'],
      ['b/', '9'],
    ]);
  });

  it('routes events by watch id and ignores answers to progress requests and unknown ids', async () => {
    const etcd = new FakeEtcdStore();
    const hub = hubFor(etcd);
    const a = target('a/');
    const b = target('b/');
    hub.attach(a.t, timing);
    hub.attach(b.t, timing);
    await until(() => etcd.opened[0]?.watches.size === 2);
    const s = etcd.opened[0]!;
    s.emit('data', {
      created: false,
      canceled: false,
      watch_id: '-1',
      events: [],
      header: { revision: '1' },
    });
    s.emit('data', {
      created: false,
      canceled: false,
      watch_id: '99',
      events: [{}],
      header: { revision: '1' },
    });
    etcd.put('b/x', 'v');
    await until(() => b.seen.responses.length === 1);
    expect(a.seen.responses).toEqual([]);
    expect(b.seen.responses[0].events[0].kv.key.toString()).toBe('b/x');
  });

  it('hands a watch etcd refused at creation to its owner and forgets it', async () => {
    const etcd = new FakeEtcdStore();
    etcd.put('a/x', 'v');
    etcd.compact(); // compacted = revision 2
    const hub = hubFor(etcd);
    const a = target('a/', 1);
    hub.attach(a.t, timing);
    await until(() => a.seen.canceled.length === 1);
    expect(a.seen.canceled[0].compact_revision).toBe(String(etcd.compacted));
    expect(hub.stats().watches).toBe(0);
  });

  it('cancels a watch detached while its creation is in flight, once etcd answers', async () => {
    const etcd = new FakeEtcdStore();
    const hub = hubFor(etcd);
    const keep = target('k/');
    hub.attach(keep.t, timing);
    await until(() => etcd.opened[0]?.watches.size === 1);
    const a = target('a/');
    const w = hub.attach(a.t, timing);
    w.detach(); // its create_request is already written
    w.detach(); // idempotent
    await until(() => etcd.opened[0]!.written.some(r => r.cancel_request));
    await until(() => etcd.opened[0]!.watches.size === 1);
    etcd.put('a/x', 'v');
    await new Promise(r => setTimeout(r, 10));
    expect(a.seen.responses).toEqual([]);
  });

  it('re-opens a stream that ended without reporting it to the pool', async () => {
    const etcd = new FakeEtcdStore();
    const hub = hubFor(etcd);
    const a = target('a/');
    hub.attach(a.t, timing);
    await until(() => etcd.opened[0]?.watches.size === 1);
    etcd.opened[0]!.emit('end');
    await until(() => etcd.opened.length === 2 && etcd.opened[1]!.watches.size === 1);
    expect(a.seen.disconnects).toBe(1);
    expect(etcd.markFailed).toEqual([]);
    expect(hub.stats()).toMatchObject({ streamsOpened: 2, failures: 1, streamsOpen: 1 });
  });

  it('keeps retrying to open a stream while the pool fails', async () => {
    const etcd = new FakeEtcdStore();
    etcd.failOpens = 5;
    const hub = hubFor(etcd);
    const a = target('a/');
    hub.attach(a.t, timing);
    await until(() => etcd.opened[0]?.watches.size === 1);
    expect(hub.stats().failures).toBe(5);
  });

  it('stops for good once the etcd client is closed', async () => {
    const etcd = new FakeEtcdStore();
    const hub = hubFor(etcd);
    const a = target('a/');
    hub.attach(a.t, timing);
    await until(() => etcd.opened[0]?.watches.size === 1);
    etcd.opened[0]!.fail(new Etcd3ClientClosedError('Watch'));
    await new Promise(r => setTimeout(r, 30));
    expect(etcd.opened).toHaveLength(1);
    expect(hub.stats().streamsOpen).toBe(0);
  });

  it('an owner callback that throws does not break the stream', async () => {
    const etcd = new FakeEtcdStore();
    const hub = hubFor(etcd);
    const bad = target('a/');
    bad.t.onResponse = () => {
      throw new Error('owner bug');
    };
    const good = target('b/');
    hub.attach(bad.t, timing);
    hub.attach(good.t, timing);
    await until(() => etcd.opened[0]?.watches.size === 2);
    etcd.commit([
      { type: 'PUT', key: 'a/x', value: 'v' },
      { type: 'PUT', key: 'b/x', value: 'v' },
    ]);
    await until(() => good.seen.responses.length === 1);
    expect(hub.stats().failures).toBe(0);
  });
});
