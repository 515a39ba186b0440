/**
 * Issue 10, "validate before doing anything", against real sockets and a real etcd:
 * every public entry point of the client given hostile values — getters and Proxy
 * traps that throw, cyclic and self-`toJSON` objects, huge strings, control
 * characters, non-finite numbers, wrong types — fails only with a typed error,
 * synchronously or promptly, and:
 *   - connects and sends nothing first: the client's hosts point at an HTTP/2 server
 *     on 127.0.0.1 that counts accepted connections and gRPC calls (streams);
 *   - writes nothing first: a real etcd's revision does not move.
 * Pure input-handling properties are in test/property/entry-points.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Etcd3, createClient } from '../../lib/client';
import { discover } from '../../lib/discovery/discovery';
import { InvalidOptionError } from '../../lib/errors';
import { createGrpcClient } from '../../lib/grpc/create-client';
import { register } from '../../lib/registry/register';
import { EchoClient } from '../../test/grpc/echo-service';
import {
  cyclic,
  hostileScalars,
  hostileShape,
  throwingGetter,
  throwingProxy,
} from '../../test/property/arbitraries';
import { callsWithOptions, expectTypedRefusal, hostileTargets, run } from './hostile-targets';

/**
 * An HTTP/2 server on 127.0.0.1 that counts accepted TCP connections and gRPC calls
 * (streams) and answers none of them: a client's connection to it stays up, so any
 * new connection or stream is something the code under test did.
 */
const targets = hostileTargets();
const { revision, counterClient, atCounter } = targets;

/** `options` with `hosts: '127.0.0.1:1'` when it is a plain readable object without hosts. */
function refusedByDefault(options: unknown): unknown {
  if (!options || typeof options !== 'object' || Array.isArray(options)) return options;
  try {
    return 'hosts' in options ? options : { ...options, hosts: '127.0.0.1:1' };
  } catch {
    return options;
  }
}

/** An object whose toJSON() returns another such object, `depth` deep (then `{}`). */
function toJsonChain(depth: number): object {
  let o: object = {};
  for (let i = 0; i < depth; i++) {
    const inner = o;
    o = { toJSON: () => inner };
  }
  return o;
}

/** A short description of a hostile value (never throws). */
function show(v: unknown): string {
  try {
    return (
      JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x))?.slice(0, 200) ??
      String(v)
    );
  } catch (err) {
    return `(unprintable: ${(err as Error).message})`;
  }
}

/** Deadlines that are never valid (Infinity is grpc-js's documented "no deadline"). */
const badDeadlines = (): unknown[] => [
  { deadline: 'soon' },
  { deadline: NaN },
  { deadline: new Date(NaN) },
  { deadline: cyclic() },
  { deadline: -Infinity },
];

describe('new Etcd3(options) / createClient(options)', () => {
  it('hostile options: InvalidOptionError before any connection', async () => {
    const samples = fc.sample(
      fc.oneof(
        hostileShape(['hosts', 'callTimeoutMs', 'keepalive', 'auth', 'credentials']),
        hostileShape(['hosts']).map(h => ({ hosts: h })),
        hostileScalars().map(v => ({ hosts: targets.counter.host, callTimeoutMs: v })),
        fc.constantFrom(
          { hosts: targets.counter.host, callTimeoutMS: 5 },
          { hosts: [targets.counter.host, `http://${targets.counter.host}`] },
          { hosts: '127.0.0.1:99999' },
          { hosts: targets.counter.host, defaultCallOptions: { deadline: 'soon' } },
          { hosts: targets.counter.host, grpcOptions: { 'grpc.service_config': '{bad' } },
        ),
      ),
      { numRuns: 150, seed: 20 },
    );
    const before = targets.counter.accepted();
    for (const [i, sample] of samples.entries()) {
      // Options that would default to 127.0.0.1:2379 (someone else's etcd, maybe) dial a
      // refused port instead.
      const options = refusedByDefault(sample);
      const ctor = i % 2 ? () => new Etcd3(options as never) : () => createClient(options as never);
      const out = await run(ctor);
      if (out.kind === 'returned') {
        await (out.value as Etcd3).close();
        continue;
      }
      expect(out.kind).toBe('threw');
      expect(out.value, String(out.value?.stack)).toBeInstanceOf(InvalidOptionError);
    }
    expect(targets.counter.accepted() - before).toBe(0);
  });
});

describe('builders: get().options(...), put().options(...), deadlines', () => {
  it('bad deadlines are InvalidOptionError, before any connection or write', async () => {
    const rev = await revision();
    const cc = await counterClient();
    for (const [i, options] of badDeadlines().entries()) {
      for (const call of callsWithOptions(options)) {
        const { out, connections } = await cc.measure(call);
        expectTypedRefusal(out, `call options #${i}`);
        expect(out.value, `call options #${i}`).toBeInstanceOf(InvalidOptionError);
        expect(connections, `call options #${i}`).toBe(0);
        const real = await run(() => call(targets.etcd));
        expect(real.value, `call options #${i} on etcd`).toBeInstanceOf(InvalidOptionError);
      }
    }
    // Control: a valid call does reach the counter (so zero above means something).
    expect((await cc.measure(c => c.get('hostile/k'))).connections).toBeGreaterThan(0);
    await cc.close();
    expect(await revision()).toBe(rev);
  });
  it('an already aborted signal (aborted twice) rejects with AbortError, nothing written', async () => {
    const rev = await revision();
    const ac = new AbortController();
    ac.abort();
    ac.abort(); // twice: still one reason
    for (const call of [
      (c: Etcd3) =>
        c
          .put('hostile/aborted')
          .value('v')
          .options({ signal: ac.signal } as never),
      (c: Etcd3) => c.get('hostile/aborted').options({ signal: ac.signal } as never),
      (c: Etcd3) => c.lease(5, { signal: ac.signal } as never).grant(),
    ]) {
      const real = await run(() => call(targets.etcd));
      expect(await revision(), 'a call with an aborted signal was applied').toBe(rev);
      expect(real.kind).toBe('rejected');
      expect((real.value as Error).name).toBe('AbortError');
    }
  });
});

describe('client.lease(ttl)', () => {
  it('TTL 1 (the minimum) and 9e9 (etcd maximum) are accepted; etcd answers for the huge one', async () => {
    const small = targets.etcd.lease(1, { autoKeepAlive: false });
    expect(await small.grant()).toMatch(/^\d+$/);
    await small.revoke();
    const huge = targets.etcd.lease(9_000_000_000, { autoKeepAlive: false });
    expect(await huge.grant()).toMatch(/^\d+$/);
    await huge.revoke();
  });
});

describe('register / discover / createGrpcClient on a live client', () => {
  it('hostile register() options write nothing to etcd', async () => {
    const rev = await revision();
    const valid = { service: 'hostile', addr: '127.0.0.1:8080' };
    const samples = fc.sample(
      fc.oneof(
        hostileShape(['service', 'addr', 'metadata', 'ttlSeconds', 'lease']),
        fc.constantFrom<unknown>(
          { ...valid, metadata: cyclic() },
          { ...valid, metadata: toJsonChain(150) },
          { ...valid, metadata: { k: throwingProxy() } },
          { ...valid, metadata: throwingGetter('x') },
          { ...valid, metadata: { s: 'x'.repeat(2 * 1024 * 1024) } },
          { ...valid, metadata: { n: NaN } },
          { ...valid, service: 'a\u0000b' },
          { ...valid, addr: '\u001b[2J:1' },
          { ...valid, ttlSeconds: 1 },
          { ...valid, ttlSeconds: 1e12 },
          { ...valid, ttl: 5 },
        ),
      ),
      { numRuns: 100, seed: 21 },
    );
    for (const options of samples) {
      const out = await run(() => register(targets.etcd, options as never));
      if (out.kind === 'returned') await out.value.close();
      expect(out.kind, `accepted: ${show(options)}`).toBe('threw');
      expect(out.value, String(out.value?.stack)).toBeInstanceOf(InvalidOptionError);
    }
    expect(await revision()).toBe(rev);
  });

  it('hostile discover() arguments: InvalidOptionError before any connection', async () => {
    for (const [i, options] of [
      throwingProxy(),
      throwingGetter('prefix'),
      { prefix: cyclic() },
      { pageSize: NaN },
      { prefx: 'x/' },
    ].entries()) {
      const { out, connections } = await atCounter(c => discover(c, 'svc', options as never));
      expectTypedRefusal(out, `discover options #${i}`);
      expect(connections).toBe(0);
    }
  });

  it('createGrpcClient with hostile options dials nothing', async () => {
    for (const [i, options] of [
      throwingProxy(),
      throwingGetter('callTimeoutMs'),
      { callTimeoutMs: NaN },
      { channelOptions: { 'grpc.service_config': '{bad' } },
      { callTimeoutMS: 5 },
      cyclic(),
    ].entries()) {
      const before = targets.counter.accepted();
      const out = await run(() =>
        createGrpcClient(EchoClient, targets.counter.host, options as never),
      );
      expectTypedRefusal(out, `createGrpcClient #${i}`);
      await new Promise(r => setTimeout(r, 30));
      expect(targets.counter.accepted() - before).toBe(0);
    }
  });
});
