/**
 * createGrpcClient against real grpc-js servers on 127.0.0.1 (no etcd involved):
 * deadlines, which calls are retried, the breaker, graceful close, pass-through.
 */
import * as grpc from '@grpc/grpc-js';
import * as net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidOptionError } from '../../lib/errors';
import { createGrpcClient, type GrpcRetryEvent } from '../../lib/grpc/create-client';
import type { GrpcClientOptions } from '../../lib/grpc/client-options';
import { advance, fakeClock, realSleep, settled, track, waitUntil } from '../fakes/pool-harness';
import { EchoClient, echo, startEchoServer, type EchoServer } from './echo-service';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function server(name: string, port = 0): Promise<EchoServer> {
  const s = await startEchoServer(name, port);
  cleanups.push(() => s.kill());
  return s;
}
function client(target: string, options: GrpcClientOptions = {}) {
  const c = createGrpcClient(EchoClient, target, options);
  cleanups.push(() => c.close());
  return c;
}
/** A port with nothing listening (bound then released). */
async function deadPort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await new Promise(r => srv.once('listening', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise(r => srv.close(r));
  return port;
}
const fail = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: grpc.ServiceError) => e,
  );

describe('createGrpcClient', () => {
  it('returns a real client of the service: unary and streaming calls work, instanceof holds', async () => {
    const s = await server('s1');
    const c = client(s.addr);
    expect(c).toBeInstanceOf(EchoClient);
    expect(c).toBeInstanceOf(grpc.Client);
    expect(await echo(c as any, { message: 'hi' })).toEqual({ from: 's1', message: 'hi' });
    const got: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const st = (c as any).Count({ n: 5 });
      st.on('data', (m: { i: number }) => got.push(m.i));
      st.on('end', resolve);
      st.on('error', reject);
    });
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(c.resilience.health()).toMatchObject({
      channelState: 'READY',
      breakerState: 'closed',
      inFlight: 0,
      closed: false,
    });
  });

  it('gives unary calls without a deadline the default one', async () => {
    const s = await server('slow');
    const c = client(s.addr, { callTimeoutMs: 300 });
    await echo(c as any, { message: 'warm' });
    // On a fake clock (the server's 3 s delay is fake time too): pending 1 ms before
    // callTimeoutMs, DEADLINE_EXCEEDED at callTimeoutMs.
    fakeClock();
    const slow = track(fail(echo(c as any, { message: 'x', delayMs: 3000 })));
    await waitUntil(() => s.calls.Echo === 2, 'the call reached the server');
    await advance(299);
    await realSleep(20);
    expect(slow.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((await settled(slow)).value!.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    vi.useRealTimers();
    // An explicit deadline wins: a reply after 500 ms (real time), past callTimeoutMs.
    const ok = await echo(
      c as any,
      { message: 'y', delayMs: 500 },
      { deadline: Date.now() + 3000 },
    );
    expect(ok.message).toBe('y');
  });

  it('never repeats a non-idempotent call that reached the server', async () => {
    const s = await server('s');
    const c = client(s.addr, { retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 5 } });
    const retries: GrpcRetryEvent[] = [];
    c.resilience.onRetry(e => retries.push(e));
    const err = await fail(echo(c as any, { message: 'once', failWith: grpc.status.UNAVAILABLE }));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toBe('asked to fail by s');
    expect(s.calls.Echo).toBe(1);
    expect(retries).toEqual([]);
  });

  it('retries an idempotent method on UNAVAILABLE with backoff, and only on UNAVAILABLE', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const s = await server('s');
    const c = client(s.addr, {
      idempotentMethods: ['Echo'],
      retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 50 },
    });
    const retries: GrpcRetryEvent[] = [];
    c.resilience.onRetry(e => retries.push(e));
    const ok = await echo(c as any, {
      message: 'flaky',
      failWith: grpc.status.UNAVAILABLE,
      failFirst: 2,
    });
    expect(ok).toEqual({ from: 's', message: 'flaky' });
    expect(s.calls.Echo).toBe(3);
    expect(retries.map(r => [r.attempt, r.method, r.status?.code])).toEqual([
      [1, '/test.Echo/Echo', grpc.status.UNAVAILABLE],
      [2, '/test.Echo/Echo', grpc.status.UNAVAILABLE],
    ]);
    expect(retries.every(r => r.delayMs > 0 && r.delayMs <= 50)).toBe(true);
    // Gives up after maxAttempts retries.
    const err = await fail(echo(c as any, { message: 'down', failWith: grpc.status.UNAVAILABLE }));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(s.calls.Echo).toBe(3 + 4);
    // Application errors are not retried.
    await fail(echo(c as any, { message: 'nf', failWith: grpc.status.NOT_FOUND }));
    expect(s.calls.Echo).toBe(3 + 4 + 1);
  });

  it('retries a non-idempotent call that never left the process, and it runs exactly once when the server appears', async () => {
    const port = await deadPort();
    const c = client(`127.0.0.1:${port}`, {
      retry: { maxAttempts: 50, initialDelayMs: 20, maxDelayMs: 100 },
      breaker: false,
    });
    const retries: GrpcRetryEvent[] = [];
    c.resilience.onRetry(e => retries.push(e));
    const call = echo(c as any, { message: 'create' }, { deadline: Date.now() + 5000 });
    await waitUntil(() => retries.length > 0, 'a retry');
    expect(
      retries.every(r => /No connection established|ECONNREFUSED/.test(r.status?.details ?? '')),
    ).toBe(true);
    const s = await server('late', port);
    expect(await call).toEqual({ from: 'late', message: 'create' });
    expect(s.calls.Echo).toBe(1);
  });

  it('opens the breaker after consecutive failures and then fails fast without sending', async () => {
    const port = await deadPort();
    const c = client(`127.0.0.1:${port}`, {
      retry: { maxAttempts: 0 },
      breaker: { consecutiveFailures: 2, halfOpenAfterMs: 60_000 },
    });
    const states: string[] = [];
    c.resilience.onBreakerStateChange(e => states.push(e.state));
    await fail(echo(c as any, { message: '1' }));
    await fail(echo(c as any, { message: '2' }));
    expect(states).toEqual(['open']);
    // Fails fast: it settles with the clock stopped (no deadline, backoff or half-open).
    fakeClock();
    const err = (await settled(track(fail(echo(c as any, { message: '3' }))))).value!;
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toMatch(/circuit breaker for "127\.0\.0\.1:\d+" is open/);
    expect(c.resilience.health().breakerState).toBe('open');
  });

  it('a cancelled call ends CANCELLED and is not retried', async () => {
    const s = await server('s');
    const c = client(s.addr, { idempotentMethods: ['Echo'] });
    await echo(c as any, { message: 'warm' });
    let call!: grpc.ClientUnaryCall;
    const ended = track(
      new Promise<grpc.ServiceError>(resolve => {
        call = (c as any).Echo(
          { message: 'slow', delayMs: 2000 },
          new grpc.Metadata(),
          {},
          (e: grpc.ServiceError) => resolve(e),
        );
      }),
    );
    await waitUntil(() => s.calls.Echo === 2, 'the call reached the server');
    fakeClock(); // a retry could only come after a backoff timer
    call.cancel();
    expect((await settled(ended)).value!.code).toBe(grpc.status.CANCELLED);
    await advance(3000, 50); // past any backoff (retry.maxDelayMs defaults to 1000)
    await realSleep(20);
    expect(s.calls.Echo).toBe(2);
  });

  it('runs your interceptors once per attempt', async () => {
    const s = await server('s');
    let seen = 0;
    const mine: grpc.Interceptor = (options, next) => {
      seen++;
      return new grpc.InterceptingCall(next(options));
    };
    const c = client(s.addr, {
      interceptors: [mine],
      idempotentMethods: ['Echo'],
      retry: { initialDelayMs: 1, maxDelayMs: 2 },
    });
    await echo(c as any, { message: 'm', failWith: grpc.status.UNAVAILABLE, failFirst: 2 });
    expect(seen).toBe(3);
  });

  it('close() lets calls in flight finish, fails new calls at once, and is idempotent', async () => {
    const s = await server('s');
    const c = client(s.addr);
    await echo(c as any, { message: 'warm' });
    const slow = echo(c as any, { message: 'slow', delayMs: 300 });
    await waitUntil(() => s.calls.Echo === 2, 'the call reached the server');
    expect(c.resilience.health().inFlight).toBe(1);
    const closing = c.close();
    expect(c.close()).toBe(closing);
    const err = await fail(echo(c as any, { message: 'late' }));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toMatch(/is closed/);
    expect(await slow).toEqual({ from: 's', message: 'slow' });
    await closing;
    expect(c.resilience.health()).toMatchObject({ closed: true, inFlight: 0 });
  });

  it('close() waits at most closeTimeoutMs, then cancels what is left', async () => {
    const s = await server('s');
    const c = client(s.addr, { closeTimeoutMs: 200 });
    await echo(c as any, { message: 'warm' });
    fakeClock(); // the server's 3 s delay and closeTimeoutMs are fake time
    const slow = fail(echo(c as any, { message: 'slow', delayMs: 3000 }));
    await waitUntil(() => c.resilience.health().inFlight === 1 && s.calls.Echo === 2, 'in flight');
    const closing = track(c.close());
    await advance(199);
    await realSleep(20);
    expect(closing.settled).toBe(false); // waits for the call in flight...
    await vi.advanceTimersByTimeAsync(1);
    await settled(closing, 'close() gave up at closeTimeoutMs'); // ...closeTimeoutMs at most
    const err = await slow;
    expect([grpc.status.CANCELLED, grpc.status.UNAVAILABLE]).toContain(err.code);
  });

  it('refuses an etcd: target before the etcd resolver is registered', () => {
    expect(() => createGrpcClient(EchoClient, 'etcd:///echo')).toThrow(/registerEtcdResolver/);
  });

  it('rejects bad options', () => {
    expect(() => createGrpcClient(EchoClient, '127.0.0.1:1', { callTimeoutMs: 0 })).toThrow(
      InvalidOptionError,
    );
    expect(() =>
      createGrpcClient(EchoClient, '127.0.0.1:1', { retry: { initialDelayMs: 10, maxDelayMs: 5 } }),
    ).toThrow(InvalidOptionError);
    expect(() => createGrpcClient(EchoClient, '127.0.0.1:1', { idempotentMethods: [''] })).toThrow(
      InvalidOptionError,
    );
    expect(() => createGrpcClient(EchoClient, '127.0.0.1:1', { credentials: {} as any })).toThrow(
      InvalidOptionError,
    );
  });
});
