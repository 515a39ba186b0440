import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExpiryBound, safetyMarginMs } from '../../lib/lease/expiry-bound';
import { KeepaliveLoop } from '../../lib/lease/keepalive-loop';

/** How the fake cluster answers keepalives: after `answerAfterMs` with `ttl`, unless `silent`. */
interface Net {
  answerAfterMs?: number;
  ttl?: string;
  silent?: boolean;
}

class FakeStream extends EventEmitter {
  writes: number[] = [];
  ended = false;
  writable = true;
  constructor(
    readonly resource: { url: string; recordFailure: (e: unknown) => void },
    private readonly net: Net = {},
  ) {
    super();
  }
  write(): void {
    this.writes.push(Date.now());
    if (this.net.answerAfterMs !== undefined) {
      // Answered later (fake timers) unless the network has gone silent by then.
      setTimeout(() => this.net.silent || this.answer(this.net.ttl), this.net.answerAfterMs);
    }
  }
  cancel(): void {
    this.ended = true;
  }
  end(): void {
    this.ended = true;
  }
  answer(ttl = '3'): void {
    this.emit('data', { ID: '1', TTL: ttl });
  }
}

function fakePool(urls: string[], net: Net = {}) {
  const streams: FakeStream[] = [];
  let next = 0;
  const pool = {
    slow: [] as string[],
    withConnection: async (_s: 'Lease', fn: (a: any) => any) => {
      const url = urls[next++ % urls.length]!;
      const resource = { url, recordFailure: () => pool.slow.push(url) };
      return fn({
        resource,
        metadata: {},
        client: {
          leaseKeepAlive: () => {
            const s = new FakeStream(resource, net);
            streams.push(s);
            return s;
          },
        },
      });
    },
    markFailed: () => undefined,
  };
  return { pool, streams };
}

describe('ExpiryBound', () => {
  it('bounds from the send time, never shrinks, keeps max(100 ms, 5 % TTL)', () => {
    const b = new ExpiryBound();
    b.acknowledged(1000, 3);
    expect(b.expiresBy).toBe(4000);
    expect(b.lostAt).toBe(4000 - 150);
    b.acknowledged(500, 3); // an older acknowledgment
    expect(b.expiresBy).toBe(4000);
    expect(safetyMarginMs(1000)).toBe(100);
    expect(safetyMarginMs(10_000)).toBe(500);
  });
});

describe('KeepaliveLoop', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function loop(urls = ['a', 'b'], net: Net = {}) {
    const { pool, streams } = fakePool(urls, net);
    const events: string[] = [];
    const lost: Error[] = [];
    const host = { emit: (e: string) => events.push(e), lost: (e: Error) => lost.push(e) };
    const l = new KeepaliveLoop(pool, { ...host, lastKeepAlive: Date.now() }, () => Date.now());
    return { l, pool, streams, events, lost };
  }

  it('declares the lease lost at send time of the last acknowledged keepalive + TTL - margin on a silent network', async () => {
    const { l, streams, lost } = loop();
    const t0 = Date.now();
    l.granted('1', t0, 3, 10);
    l.start();
    await vi.advanceTimersByTimeAsync(0);
    streams[0]!.answer(); // the first keepalive, sent at t0
    await vi.advanceTimersByTimeAsync(3000 - 150 - 1);
    expect(lost).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.constructor.name).toBe('EtcdLeaseInvalidError');
  });

  it('sends every 350 ms for a 3 s TTL and re-sends on another member when one does not answer', async () => {
    const { l, pool, streams, lost } = loop();
    l.granted('1', Date.now(), 3, 10);
    l.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(streams).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(349);
    expect(streams[0]!.writes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1); // 3 s − 150 ms margin − 350 ms leaves 2.5 s for an election
    expect(streams[0]!.writes).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(150); // TTL/6 after the first send: unanswered -> hedge on "b"
    expect(pool.slow).toEqual(['a']);
    expect(streams).toHaveLength(2);
    expect(streams[1]!.resource.url).toBe('b');
    streams[1]!.answer();
    expect(streams[0]!.ended).toBe(true); // the hedge won and became the primary
    expect(l.resource).toBe(streams[1]!.resource);
    await vi.advanceTimersByTimeAsync(199);
    expect(streams[1]!.writes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(streams[1]!.writes).toHaveLength(2); // the next tick (700 ms) goes to the new primary
    expect(lost).toEqual([]);
  });

  it('sends every TTL/3 when the TTL leaves room for an election', async () => {
    const { l, streams } = loop(['a'], { answerAfterMs: 5, ttl: '30' });
    l.granted('1', Date.now(), 30, 10);
    l.start();
    await vi.advanceTimersByTimeAsync(19_999);
    expect(streams[0]!.writes).toHaveLength(2); // at 0 and 10 s
    await vi.advanceTimersByTimeAsync(1);
    expect(streams[0]!.writes).toHaveLength(3);
    expect(streams).toHaveLength(1);
  });

  it('a 3 s lease rides out a 2.2 s leader election that starts right after a keepalive was sent', async () => {
    const net: Net = { answerAfterMs: 5 };
    const { l, streams, lost } = loop(['a', 'b', 'c'], net);
    l.granted('1', Date.now(), 3, 10);
    l.start();
    await vi.advanceTimersByTimeAsync(2000); // healthy: every keepalive answered in 5 ms
    expect(streams).toHaveLength(1);
    // The leader dies right after the next keepalive is sent: nothing is answered any more.
    const primary = streams[0]!;
    const before = primary.writes.length;
    for (let i = 0; i < 1000 && primary.writes.length === before; i++) {
      await vi.advanceTimersByTimeAsync(1);
    }
    expect(primary.writes).toHaveLength(before + 1);
    net.silent = true;
    await vi.advanceTimersByTimeAsync(2200); // no leader: every keepalive held
    expect(lost).toEqual([]);
    // A new leader answers the keepalive held on the newest stream, and all later ones.
    net.silent = false;
    streams.at(-1)!.answer();
    await vi.advanceTimersByTimeAsync(3000);
    expect(lost).toEqual([]);
  });

  it("etcd's longest TTL (9e9 s) sends one keepalive, not a storm (timers past 2^31-1 ms fire at once)", async () => {
    const { l, streams, lost, events } = loop(['a', 'b'], { answerAfterMs: 5, ttl: '9000000000' });
    l.granted('1', Date.now(), 9_000_000_000, 10);
    l.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(streams).toHaveLength(1);
    expect(streams[0]!.writes).toHaveLength(1);
    expect(events.filter(e => e === 'keepaliveFailed')).toEqual([]);
    expect(lost).toEqual([]);
    expect(l.remainingMs).toBeGreaterThanOrEqual(0.95 * 9e12 - 1000); // TTL less the 5 % margin
  });

  it('re-opens at once when the stream fails, and says lost when etcd answers TTL 0', async () => {
    const { l, streams, lost, events } = loop();
    l.granted('1', Date.now(), 3, 10);
    l.start();
    await vi.advanceTimersByTimeAsync(0);
    streams[0]!.emit('error', Object.assign(new Error('14 UNAVAILABLE'), { code: 14 }));
    await vi.advanceTimersByTimeAsync(0);
    expect(streams).toHaveLength(2);
    expect(streams[1]!.writes).toHaveLength(1);
    expect(events).toContain('keepaliveFailed');
    streams[1]!.answer('0');
    expect(lost).toHaveLength(1);
  });

  it('a slow but answering member is not abandoned: the hedge delay follows round trips', async () => {
    const { l, streams, lost } = loop(['a'], { answerAfterMs: 700 }); // each keepalive answered 700 ms after it was sent
    l.granted('1', Date.now(), 3, 1400); // grant took 1.4 s: hedge delay 1.5 s (TTL/2 cap)
    l.start();
    await vi.advanceTimersByTimeAsync(9000);
    expect(streams).toHaveLength(1);
    expect(streams[0]!.writes.length).toBeGreaterThanOrEqual(25); // every 350 ms for 9 s
    expect(lost).toEqual([]);
  });

  it('a grant answered late (slow first connection) is confirmed by the first keepalive, not declared lost', async () => {
    const { l, streams, lost } = loop(['a']);
    const sentAt = Date.now();
    await vi.advanceTimersByTimeAsync(1400); // the grant took 1.4 s of a 2 s TTL
    l.granted('1', sentAt, 2, 1400);
    l.start();
    await vi.advanceTimersByTimeAsync(600);
    expect(lost).toEqual([]); // the grant's own bound (1.9 s) has passed
    streams[0]!.answer('2');
    await vi.advanceTimersByTimeAsync(1000);
    expect(lost).toEqual([]);
  });
});
