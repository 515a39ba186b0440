/**
 * Shared by the hostile-input integration tests: an HTTP/2 server on 127.0.0.1 that
 * counts connections and gRPC calls, a real etcd whose revision must not move, and the
 * helpers that run a hostile call and check it was refused typed and promptly.
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { afterAll, beforeAll, expect } from 'vitest';
import { Etcd3, createClient } from '../../lib/client';
import { startEtcd, type EtcdCluster } from '../../lib/testing';
import { isTypedError } from './typed-errors';

export interface Counter {
  readonly host: string;
  /** Accepted connections plus streams opened. */
  accepted(): number;
  close(): Promise<void>;
}
export async function startCounter(): Promise<Counter> {
  let n = 0;
  const sockets = new Set<net.Socket>();
  const server = http2.createServer();
  server.on('connection', (s: net.Socket) => {
    n++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  server.on('stream', stream => {
    n++;
    stream.on('error', () => undefined);
  });
  server.on('sessionError', () => undefined);
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    accepted: () => n,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>(r => server.close(() => r()));
    },
  };
}

export type Outcome = {
  kind: 'threw' | 'rejected' | 'returned' | 'resolved';
  value?: any;
  ms: number;
};

/** Runs `fn`; a returned promise is awaited at most `boundMs`. */
export async function run(fn: () => unknown, boundMs = 2000): Promise<Outcome> {
  const t0 = performance.now();
  let v: any;
  try {
    v = fn();
  } catch (err) {
    return { kind: 'threw', value: err, ms: performance.now() - t0 };
  }
  if (!v || typeof v.then !== 'function') {
    return { kind: 'returned', value: v, ms: performance.now() - t0 };
  }
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<Outcome>(
    r => (timer = setTimeout(() => r({ kind: 'resolved', value: 'HUNG', ms: boundMs }), boundMs)),
  );
  const settled = (v as Promise<unknown>).then(
    value => ({ kind: 'resolved' as const, value, ms: performance.now() - t0 }),
    value => ({ kind: 'rejected' as const, value, ms: performance.now() - t0 }),
  );
  return Promise.race([settled, bound]).finally(() => clearTimeout(timer));
}

/** The outcome must be a typed error thrown at once or rejected promptly. */
export function expectTypedRefusal(out: Outcome, what: string): void {
  expect(['threw', 'rejected'], `${what}: ${out.kind} ${String(out.value)}`).toContain(out.kind);
  expect(isTypedError(out.value), `${what}: untyped ${out.value?.stack ?? out.value}`).toBe(true);
  expect(out.ms, `${what}: took ${out.ms} ms`).toBeLessThan(500);
}

/**
 * One HTTP/2 counter and one real etcd (with a client) for a describe block: hooks are
 * registered here; the returned accessors are valid inside tests.
 */
export function hostileTargets() {
  let counter: Counter;
  let cluster: EtcdCluster;
  let etcd: Etcd3;

  beforeAll(async () => {
    [counter, cluster] = await Promise.all([startCounter(), startEtcd({ members: 1 })]);
    etcd = createClient({ hosts: cluster.endpoints, callTimeoutMs: 3000 });
    await etcd.put('hostile/seed').value('1');
  });
  afterAll(async () => {
    await etcd?.close();
    await counter?.close();
    await cluster?.stop();
  });

  async function revision(): Promise<string> {
    const status = await etcd.maintenance.status();
    return String(status.header.revision);
  }

  /**
   * A client pointed at the counter, once it has made the connection it makes when
   * constructed; `measure(fn)` runs `fn(client)` and says how many connections it made.
   */
  async function counterClient(): Promise<{
    measure(fn: (c: Etcd3) => unknown): Promise<{ out: Outcome; connections: number }>;
    close(): Promise<void>;
  }> {
    const start = counter.accepted();
    const c = new Etcd3({ hosts: counter.host, callTimeoutMs: 300, connectTimeoutMs: 300 });
    // Bounded wait for the construction's own dial, so only the call under test counts.
    for (let i = 0; i < 100 && counter.accepted() === start; i++) {
      await new Promise(r => setTimeout(r, 10));
    }
    return {
      async measure(fn) {
        const before = counter.accepted();
        const out = await run(() => fn(c), 1500);
        await new Promise(r => setTimeout(r, 30)); // a dial that was started reaches the listener
        return { out, connections: counter.accepted() - before };
      },
      close: () => c.close(),
    };
  }

  /** Runs `fn(client)` on a fresh {@link counterClient}. */
  async function atCounter(
    fn: (c: Etcd3) => unknown,
  ): Promise<{ out: Outcome; connections: number }> {
    const cc = await counterClient();
    try {
      return await cc.measure(fn);
    } finally {
      await cc.close();
    }
  }

  return {
    get counter(): Counter {
      return counter;
    },
    get etcd(): Etcd3 {
      return etcd;
    },
    revision,
    counterClient,
    atCounter,
  };
}

/**
 * The builder calls that take call options: a read, a put and a delete, each given
 * `options` (hostile in the tests: bad deadlines, throwing getters, a fake signal).
 */
export function callsWithOptions(options: unknown): Array<(c: Etcd3) => unknown> {
  return [
    c => c.get('hostile/k').options(options as never),
    c =>
      c
        .put('hostile/k')
        .value('v')
        .options(options as never),
    c =>
      c
        .delete()
        .key('hostile/seed')
        .options(options as never),
  ];
}
