import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { resolveOptions } from '../../lib/options';
import type { Endpoint } from '../../lib/pool/endpoint';
import { LatencyTracker } from '../../lib/pool/latency';
import { ResilientPool } from '../../lib/pool/resilient-pool';

interface Stub {
  url: string;
  available: boolean;
  ready: boolean;
  suspect: boolean;
  lastFailureAt: number;
  lastAnswerAt: number;
  /** ms the oldest call in flight there has waited (0: none). */
  stalledMs?: number;
  close(): void;
}

/** The endpoint events the pool subscribes to (stubs never fire them). */
const noEvent = () => ({ dispose: () => undefined });
const events = { onStateChange: noEvent, onRebuild: noEvent, onBreakerStateChange: noEvent };

const stub = (url: string, over: Partial<Stub> = {}) => ({
  url,
  available: true,
  ready: true,
  suspect: false,
  lastFailureAt: 0,
  lastAnswerAt: 0,
  close: () => undefined,
  ...events,
  ...over,
  latency: new LatencyTracker(),
  oldestCallAgeMs: () => over.stalledMs ?? 0,
});

function poolOf(stubs: Stub[]): ResilientPool {
  const byUrl = new Map(stubs.map(s => [s.url, s]));
  const options = resolveOptions({
    hosts: stubs.map(s => s.url),
    breaker: { halfOpenAfterMs: 1000 },
  });
  return new ResilientPool(options, url => byUrl.get(url) as unknown as Endpoint);
}

const urls = (eps: Endpoint[]) => eps.map(e => e.url);

describe('ResilientPool.order', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(100_000);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test('rotates equally good endpoints so that load spreads', () => {
    const p = poolOf([stub('a:1'), stub('b:1'), stub('c:1')]);
    const firsts = Array.from({ length: 6 }, () => urls(p.order())[0]);
    expect(firsts).toEqual(['a:1', 'b:1', 'c:1', 'a:1', 'b:1', 'c:1']);
  });

  test('open breaker last, then suspect, then not connected, then recently failed', () => {
    const p = poolOf([
      stub('open:1', { available: false }),
      stub('suspect:1', { suspect: true }),
      stub('idle:1', { ready: false }),
      stub('failed:1', { lastFailureAt: 100_000 - 500 }),
      stub('good:1'),
    ]);
    for (let i = 0; i < 5; i++) {
      expect(urls(p.order())).toEqual(['good:1', 'failed:1', 'idle:1', 'suspect:1', 'open:1']);
    }
  });

  test('a failure older than halfOpenAfterMs no longer counts', () => {
    const p = poolOf([stub('old:1', { lastFailureAt: 100_000 - 1000 }), stub('b:1')]);
    expect(urls(p.order())).toEqual(['old:1', 'b:1']);
  });

  test('a write prefers endpoints that answered within the attempt timeout; a read does not care', () => {
    const p = poolOf([
      stub('silent:1', { lastAnswerAt: 100_000 - 5000 }), // maybe frozen: nothing heard for 5 s
      stub('fresh:1', { lastAnswerAt: 100_000 - 200 }),
    ]);
    for (let i = 0; i < 4; i++) {
      expect(urls(p.order(true))).toEqual(['fresh:1', 'silent:1']);
    }
    const readFirsts = Array.from({ length: 4 }, () => urls(p.order(false))[0]);
    expect(new Set(readFirsts)).toEqual(new Set(['silent:1', 'fresh:1']));
  });

  test('a write avoids an endpoint whose calls have gone unanswered for longer than usual', () => {
    // No round trips measured: the hedge delay is its 100 ms fallback, "stalled" is > 200 ms.
    const p = poolOf([
      stub('stalled:1', { lastAnswerAt: 100_000 - 10, stalledMs: 250 }),
      stub('busy:1', { lastAnswerAt: 100_000 - 10, stalledMs: 150 }),
    ]);
    for (let i = 0; i < 4; i++) {
      expect(urls(p.order(true))).toEqual(['busy:1', 'stalled:1']);
    }
    const readFirsts = Array.from({ length: 4 }, () => urls(p.order(false))[0]);
    expect(new Set(readFirsts)).toEqual(new Set(['stalled:1', 'busy:1']));
  });

  test('a single endpoint is returned as is', () => {
    const p = poolOf([stub('a:1', { available: false })]);
    expect(urls(p.order())).toEqual(['a:1']);
  });
});
