/**
 * The watch resume point: etcd3 moves it to the header revision of every response,
 * so a re-attached watch can resume past events still in flight. resumeExactly()
 * moves it only past delivered events.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, test, vi } from 'vitest';
import { resumeExactly, type RewindHooks, type WatchRewind } from '../lib/internals/etcd3';

/** A stand-in with etcd3 Watcher's shape: `request.start_revision` and `updateRevision`. */
function fakeWatcher(startRevision?: string) {
  const w = Object.assign(new EventEmitter(), {
    request: { start_revision: startRevision } as { start_revision?: string },
    // etcd3 1.1.2's behaviour, for contrast.
    updateRevision(res: { header: { revision: string } }) {
      this.request.start_revision = String(BigInt(res.header.revision) + 1n);
    },
  });
  return w;
}

const created = (revision: number) => ({
  created: true,
  header: { revision: String(revision) },
  events: [],
});
const events = (headerRevision: number, ...mods: number[]) => ({
  header: { revision: String(headerRevision) },
  events: mods.map(m => ({ kv: { mod_revision: String(m) } })),
});

describe('resumeExactly', () => {
  test('a re-attached watch keeps its resume point until events arrive (etcd3 would jump ahead)', () => {
    const raw = fakeWatcher('101');
    raw.updateRevision(created(150));
    expect(raw.request.start_revision).toBe('151'); // 101..150 would be skipped on the next reconnect

    const fixed = resumeExactly(fakeWatcher('101'));
    fixed.updateRevision(created(150) as any);
    expect(fixed.request.start_revision).toBe('101');
  });

  test('events move it past the last delivered event, not past the header', () => {
    const w = resumeExactly(fakeWatcher('101'));
    w.updateRevision(events(150, 101, 102, 103) as any); // a catch-up batch; the store is at 150
    expect(w.request.start_revision).toBe('104');
  });

  test('a progress notification (only sent to synced watchers) moves it to the header', () => {
    const w = resumeExactly(fakeWatcher('104'));
    w.updateRevision({ header: { revision: '160' }, events: [] } as any);
    expect(w.request.start_revision).toBe('161');
  });

  test('a new watch without a start revision starts from its created header', () => {
    const w = resumeExactly(fakeWatcher(undefined));
    w.updateRevision(created(42) as any);
    expect(w.request.start_revision).toBe('43');
  });

  test('never moves backwards', () => {
    const w = resumeExactly(fakeWatcher('200'));
    w.updateRevision(events(150, 120) as any);
    expect(w.request.start_revision).toBe('200');
  });
});

/** Watchers sharing one fake WatchManager (a connected stream), as etcd3 attaches them. */
function managed(...starts: string[]) {
  const manager = { state: 2, watchers: [] as any[], stream: { cancel: vi.fn() } };
  const watchers = starts.map(start => {
    const w = Object.assign(fakeWatcher(start), { manager });
    manager.watchers.push(w);
    return w;
  });
  return { manager, watchers };
}

function hooks(clusterRevision: bigint | Error) {
  const rewinds: WatchRewind[] = [];
  const h: RewindHooks = {
    currentRevision: () =>
      clusterRevision instanceof Error
        ? Promise.reject(clusterRevision)
        : Promise.resolve(clusterRevision),
    onRewind: r => rewinds.push(r),
  };
  return { h, rewinds };
}

const flush = () => new Promise(resolve => setImmediate(resolve));

describe('resumeExactly: a cluster that went back in time', () => {
  test('re-attached below the resume point, confirmed by a read: every watcher ahead rewinds and the stream re-opens', async () => {
    const { manager, watchers } = managed('52', '40', '3');
    const { h, rewinds } = hooks(2n);
    const [w] = watchers.map(x => resumeExactly(x, h));
    w.updateRevision(created(1) as any); // cluster B is at revision 1
    expect(w.request.start_revision).toBe('2'); // at 'connected' already, as etcd3 does
    await flush();
    expect(watchers.map(x => x.request.start_revision)).toEqual(['2', '2', '3']);
    expect(rewinds.map(r => [r.fromRevision, r.toRevision, r.clusterRevision])).toEqual([
      ['52', '2', '2'],
      ['40', '2', '2'],
    ]);
    expect(rewinds[0].watcher).toBe(watchers[0]);
    expect(manager.stream.cancel).toHaveBeenCalledTimes(1);
  });

  test('a member that only lags behind the leader is not a rewind (exactly-once kept)', async () => {
    const { manager, watchers } = managed('101');
    const { h, rewinds } = hooks(100n); // the cluster has revision 100: nothing lost
    const w = resumeExactly(watchers[0], h);
    w.updateRevision(created(97) as any); // a follower that has applied up to 97 only
    expect(w.request.start_revision).toBe('98'); // lowered at once, as etcd3 does...
    await flush();
    expect(w.request.start_revision).toBe('101'); // ...and put back once the read says so
    expect(rewinds).toEqual([]);
    expect(manager.stream.cancel).not.toHaveBeenCalled();
  });

  test("an unconfirmed rewind (the read failed) keeps etcd3's lowered value, no event", async () => {
    const { manager, watchers } = managed('52');
    const { h, rewinds } = hooks(new Error('unavailable'));
    const w = resumeExactly(watchers[0], h);
    w.updateRevision(created(1) as any);
    await flush();
    expect(w.request.start_revision).toBe('2');
    expect(rewinds).toEqual([]);
    expect(manager.stream.cancel).not.toHaveBeenCalled();
  });

  test('a header just below the resume point (nothing new since) is no rewind and needs no read', async () => {
    const { watchers } = managed('52');
    const currentRevision = vi.fn(async () => 51n);
    const w = resumeExactly(watchers[0], { currentRevision, onRewind: () => undefined });
    w.updateRevision(created(51) as any);
    await flush();
    expect(currentRevision).not.toHaveBeenCalled();
    expect(w.request.start_revision).toBe('52');
  });
});
