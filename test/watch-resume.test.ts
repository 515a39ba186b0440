/**
 * The watch resume point: etcd3 moves it to the header revision of every response,
 * so a re-attached watch can resume past events still in flight. resumeExactly()
 * moves it only past delivered events.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, test } from 'vitest';
import { resumeExactly } from '../lib/etcd3-internals';

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
