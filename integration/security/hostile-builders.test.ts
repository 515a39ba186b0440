/**
 * Issue 10, "validate before doing anything", against real sockets and a real etcd:
 * every public entry point of the client given hostile values — getters and Proxy
 * traps that throw, cyclic and self-`toJSON` objects, huge strings, control
 * characters, non-finite numbers, wrong types — fails only with a typed error,
 * synchronously or promptly, and:
 *   - connects and sends nothing first: the client's hosts point at an HTTP/2 server
 *     on 127.0.0.1 that counts accepted connections and gRPC calls (streams);
 *   - writes nothing first: a real etcd's revision does not move.
 * Pure input-handling properties are in test/property/entry-points.test.ts; the
 * constructor, register/discover and createGrpcClient cases are in
 * hostile-entry-points.test.ts. This file: call options of the builders (adversary
 * finding B), lease/lock/election arguments (finding D).
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3, createClient } from '../../lib/client';
import { InvalidOptionError } from '../../lib/errors';
import { startEtcd, type EtcdCluster } from '../../lib/testing';
import { cyclic, throwingGetter, throwingProxy } from '../../test/property/arbitraries';
import { isTypedError } from './typed-errors';

/**
 * An HTTP/2 server on 127.0.0.1 that counts accepted TCP connections and gRPC calls
 * (streams) and answers none of them: a client's connection to it stays up, so any
 * new connection or stream is something the code under test did.
 */
interface Counter {
  readonly host: string;
  /** Accepted connections plus streams opened. */
  accepted(): number;
  close(): Promise<void>;
}
async function startCounter(): Promise<Counter> {
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

type Outcome = { kind: 'threw' | 'rejected' | 'returned' | 'resolved'; value?: any; ms: number };

/** Runs `fn`; a returned promise is awaited at most `boundMs`. */
async function run(fn: () => unknown, boundMs = 2000): Promise<Outcome> {
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
function expectTypedRefusal(out: Outcome, what: string): void {
  expect(['threw', 'rejected'], `${what}: ${out.kind} ${String(out.value)}`).toContain(out.kind);
  expect(isTypedError(out.value), `${what}: untyped ${out.value?.stack ?? out.value}`).toBe(true);
  expect(out.ms, `${what}: took ${out.ms} ms`).toBeLessThan(500);
}

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

/** Call options that are never valid: throwing getters and traps, a signal that is not one. */
const badCallOptionShapes = (): unknown[] => [
  throwingGetter('deadline'),
  throwingGetter('signal'),
  throwingProxy(),
  { signal: 'aborted' },
  { signal: throwingProxy() },
];

/** Hostile values that are never valid where a string/Buffer key, name or prefix is expected. */
const badKeys = (): unknown[] => [
  undefined,
  null,
  42,
  NaN,
  {},
  cyclic(),
  throwingProxy(),
  throwingGetter('length'),
  Symbol('k'),
  10n,
  () => 'k',
];

describe('builders, hostile call options', () => {
  it('call options whose getters/traps throw or whose signal is not an AbortSignal are InvalidOptionError, before any connection or write', async () => {
    const rev = await revision();
    for (const [i, options] of badCallOptionShapes().entries()) {
      for (const call of [
        (c: Etcd3) => c.get('hostile/k').options(options as never),
        (c: Etcd3) =>
          c
            .put('hostile/k')
            .value('v')
            .options(options as never),
        (c: Etcd3) =>
          c
            .delete()
            .key('hostile/seed')
            .options(options as never),
      ]) {
        const { out, connections } = await atCounter(call);
        expectTypedRefusal(out, `call options #${i}`);
        expect(out.value, `call options #${i}`).toBeInstanceOf(InvalidOptionError);
        expect(connections, `call options #${i}`).toBe(0);
        const real = await run(() => call(etcd));
        expect(real.value, `call options #${i} on etcd`).toBeInstanceOf(InvalidOptionError);
      }
    }
    expect(await revision()).toBe(rev);
  });
});

describe('client.lease(ttl, options)', () => {
  const badTtls = [NaN, Infinity, -Infinity, -1, 0, 0.5, 1e20, '10', null, {}, cyclic(), 10n];
  it('a bad TTL is InvalidOptionError at once, before any connection', async () => {
    for (const ttl of badTtls) {
      const { out, connections } = await atCounter(c => c.lease(ttl as never));
      expectTypedRefusal(out, `lease(${typeof ttl === 'bigint' ? 'bigint' : String(ttl)})`);
      expect(out.value).toBeInstanceOf(InvalidOptionError);
      // Drop-in: etcd3 throws a RangeError for a TTL below 1; so do we (InvalidTtlError).
      expect(out.value).toBeInstanceOf(RangeError);
      expect(connections).toBe(0);
    }
  });

  it('bad lease options are InvalidOptionError at once, before any connection', async () => {
    const badOptions = [
      throwingProxy(),
      throwingGetter('autoKeepAlive'),
      { autoKeepAlive: 'yes' },
      ...badCallOptionShapes(),
      'x',
    ];
    for (const [i, options] of badOptions.entries()) {
      const { out, connections } = await atCounter(c => c.lease(10, options as never));
      expectTypedRefusal(out, `lease options #${i}`);
      expect(out.value).toBeInstanceOf(InvalidOptionError);
      expect(connections).toBe(0);
    }
  });
});

describe('lock(key), election(name), namespace(prefix)', () => {
  it('a bad lock key or lock TTL is InvalidOptionError, before any connection or write', async () => {
    const rev = await revision();
    for (const [i, key] of badKeys().entries()) {
      const { out, connections } = await atCounter(c => c.lock(key as never).acquire());
      expectTypedRefusal(out, `lock key #${i}`);
      expect(connections, `lock key #${i}`).toBe(0);
      expect((await run(() => etcd.lock(key as never).acquire())).value).toBeInstanceOf(
        InvalidOptionError,
      );
    }
    for (const ttl of [NaN, -1, 0, Infinity, '5']) {
      const { out, connections } = await atCounter(c =>
        c
          .lock('k')
          .ttl(ttl as never)
          .acquire(),
      );
      expectTypedRefusal(out, `lock ttl ${String(ttl)}`);
      expect(connections).toBe(0);
    }
    expect(await revision()).toBe(rev);
  });

  it('a bad election name or TTL is InvalidOptionError, before any connection or write', async () => {
    const rev = await revision();
    for (const [i, name] of badKeys().entries()) {
      const { out, connections } = await atCounter(c => c.election(name as never).campaign('v'));
      expectTypedRefusal(out, `election name #${i}`);
      expect(connections, `election name #${i}`).toBe(0);
    }
    for (const ttl of [NaN, -1, 0, Infinity, '5']) {
      const { out, connections } = await atCounter(c =>
        c.election('e', ttl as never).campaign('v'),
      );
      expectTypedRefusal(out, `election ttl ${String(ttl)}`);
      expect(connections).toBe(0);
    }
    expect(await revision()).toBe(rev);
  });
});
