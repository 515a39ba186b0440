/**
 * The keepalive loop gives etcd3 1.1.2's events, payloads and messages (its upstream
 * suite's lease() tests pin them), while keeping our bound on etcd's expiry.
 */
import { EventEmitter } from 'node:events';
import { EtcdLeaseInvalidError, GRPCCancelledError } from 'etcd3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { monotonicNow } from '../../lib/lease/expiry-bound';
import { KeepaliveLoop } from '../../lib/lease/keepalive-loop';

class Stream extends EventEmitter {
  writes = 0;
  writable = true;
  write(): void {
    this.writes++;
  }
  cancel(): void {
    this.writable = false;
  }
  end(): void {
    this.writable = false;
  }
}

/** A pool whose streams open only when `openNow()` is called (or at once if `auto`). */
function gatedPool(auto: boolean) {
  const streams: Stream[] = [];
  const waiting: Array<() => void> = [];
  const pool = {
    withConnection: async (_s: 'Lease', fn: (a: any) => any) => {
      if (!auto) {
        await new Promise<void>(r => waiting.push(r));
      }
      const client = { leaseKeepAlive: () => streams[streams.push(new Stream()) - 1] };
      return fn({ resource: { url: 'a' }, metadata: {}, client });
    },
    markFailed: () => undefined,
  };
  return { pool, streams, openNow: () => waiting.splice(0).forEach(r => r()) };
}

type Seen = [string, unknown?];

function host(seen: Seen[]) {
  return {
    emit: (event: string, arg?: unknown) => seen.push([event, arg]),
    lost: (err: Error) => seen.push(['lost', err]),
    lastKeepAlive: Date.now(),
  };
}

const names = (seen: Seen[]) => seen.map(s => s[0]);

/**
 * A loop on an auto-opening pool, lease 7 granted now for `ttlSeconds` (10 ms round
 * trip), started, its first stream open; what it reports goes to `seen`.
 */
async function startedLoop(seen: Seen[], ttlSeconds = 3) {
  const { pool, streams } = gatedPool(true);
  const h = host(seen);
  const l = new KeepaliveLoop(pool, h, () => Date.now());
  l.granted('7', Date.now(), ttlSeconds, 10);
  l.start();
  await vi.advanceTimersByTimeAsync(0);
  return { h, streams };
}

describe('keepalive loop: etcd3 compatibility', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('our bound firing on a silent network gives keepaliveFailed, then lost with etcd3\'s "our lease has expired" error', async () => {
    const seen: Seen[] = [];
    const { streams } = await startedLoop(seen);
    expect(streams).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(3000 - 150); // TTL - margin, nothing answered
    const failed = seen.filter(s => s[0] === 'keepaliveFailed');
    expect(failed).toHaveLength(1);
    expect(failed[0]![1]).toBeInstanceOf(GRPCCancelledError);
    expect(names(seen).slice(-2)).toEqual(['keepaliveFailed', 'lost']);
    const err = seen.at(-1)![1] as Error;
    expect(err).toBeInstanceOf(EtcdLeaseInvalidError);
    expect(err.message).toMatch(/our lease has expired/);
  });

  it('etcd answering TTL 0 gives keepaliveFailed then lost, with the same EtcdLeaseInvalidError', async () => {
    const seen: Seen[] = [];
    const { streams } = await startedLoop(seen);
    streams[0]!.emit('data', { ID: '7', TTL: '0' });
    expect(names(seen).slice(-2)).toEqual(['keepaliveFailed', 'lost']);
    expect(seen.at(-1)![1]).toBe(seen.at(-2)![1]);
    expect(seen.at(-1)![1]).toBeInstanceOf(EtcdLeaseInvalidError);
  });

  it('#110: under fake timers (the real clock still), nothing before the stream opens; a TTL without answer then gives keepaliveFailed, and 2×TTL lost', async () => {
    const seen: Seen[] = [];
    const { pool, streams, openNow } = gatedPool(false);
    // The loop's own clock: the real monotonic one (no injected `now`), as in production.
    const h = host(seen);
    const l = new KeepaliveLoop(pool, h);
    l.granted('7', monotonicNow(), 1, 1);
    l.start();
    await vi.advanceTimersByTimeAsync(50_000); // faked time only; the stream is not open yet
    expect(names(seen)).toEqual([]);
    openNow();
    await vi.advanceTimersByTimeAsync(0);
    expect(names(seen)).toEqual(['keepaliveEstablished', 'keepaliveFired']);
    expect(streams).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000); // the requested TTL without an answer
    const failed = seen.find(s => s[0] === 'keepaliveFailed');
    expect(failed?.[1]).toBeInstanceOf(GRPCCancelledError);
    expect((failed?.[1] as Error).message).toMatch(/timed out/);
    expect(names(seen)).not.toContain('lost');
    await vi.advanceTimersByTimeAsync(100); // etcd3 re-opens 100 ms later: 2×TTL passed
    expect(names(seen).at(-1)).toBe('lost');
    expect((seen.at(-1)![1] as Error).message).toMatch(/our lease has expired/);
  });

  it("honours etcd3's lastKeepAlive: a stream failure when it is older than 2×TTL gives lost", async () => {
    const seen: Seen[] = [];
    const { h, streams } = await startedLoop(seen, 60);
    h.lastKeepAlive = Date.now() - 121_000; // as etcd3's test does
    streams[0]!.emit('error', Object.assign(new Error('14 UNAVAILABLE'), { code: 14 }));
    expect(names(seen).slice(-2)).toEqual(['keepaliveFailed', 'lost']);
    expect((seen.at(-1)![1] as Error).message).toMatch(/our lease has expired/);
  });
});
