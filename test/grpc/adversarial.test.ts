/**
 * createGrpcClient under hostile conditions (issue 10): server answers that look like
 * local failures, throwing listeners, untyped errors from bad input.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidOptionError } from '../../lib/errors';
import { createGrpcClient } from '../../lib/grpc/create-client';
import type { GrpcClientOptions } from '../../lib/grpc/client-options';
import { countingResolver } from '../fakes/counting-resolver';
import { EchoClient, echo, jsonMethod, startEchoServer } from './echo-service';

const method = (name: string) => jsonMethod(`/test.Payments/${name}`);
const paymentsDefinition = { Charge: method('Charge'), Balance: method('Balance') };
const PaymentsClient = grpc.makeGenericClientConstructor(paymentsDefinition, 'Payments');

/** A payments server whose application answers every call with `details` as UNAVAILABLE. */
async function paymentsServer(details: string) {
  const server = new grpc.Server();
  const calls = { Charge: 0, Balance: 0 };
  const answer =
    (name: keyof typeof calls) => (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
      calls[name]++;
      cb({ code: grpc.status.UNAVAILABLE, details });
    };
  server.addService(paymentsDefinition, { Charge: answer('Charge'), Balance: answer('Balance') });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  cleanups.push(() => server.forceShutdown());
  return { addr: `127.0.0.1:${port}`, calls };
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const f of cleanups.splice(0).reverse()) await f();
});

function client(target: string, options: GrpcClientOptions = {}) {
  const c = createGrpcClient(PaymentsClient, target, options);
  cleanups.push(() => c.close());
  return c;
}
function call(c: grpc.Client, name: 'Charge' | 'Balance', md = new grpc.Metadata()) {
  return new Promise<grpc.ServiceError | null>(resolve =>
    (c as any)[name]({ amount: 1 }, md, { deadline: Date.now() + 5000 }, (err: any) =>
      resolve(err),
    ),
  );
}

describe('createGrpcClient: a status from the server application is "sent", whatever its text', () => {
  it.each([
    'connect ECONNREFUSED 10.0.0.9:5672',
    'circuit breaker for "x" is open after repeated failures; call not sent',
    'No connection established',
    'Stream refused by server',
    'grpc client for "x" is closed',
  ])('UNAVAILABLE "%s": a non-idempotent Charge runs exactly once', async details => {
    const s = await paymentsServer(details);
    const c = client(s.addr, {
      idempotentMethods: ['Balance'],
      retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 2 },
      breaker: false,
    });
    const retries: unknown[] = [];
    c.resilience.onRetry(e => retries.push(e));
    const err = await call(c as any, 'Charge');
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(err?.details).toBe(details);
    expect(s.calls.Charge).toBe(1);
    expect(retries).toEqual([]);
    // The idempotent method is still retried.
    await call(c as any, 'Balance');
    expect(s.calls.Balance).toBe(4);
  });
});

describe('createGrpcClient: a throwing listener', () => {
  it('never crashes the host, and calls keep working', async () => {
    const uncaught = vi.fn();
    process.on('uncaughtException', uncaught);
    cleanups.push(() => process.off('uncaughtException', uncaught));
    const s = await startEchoServer('s');
    cleanups.push(() => s.kill());
    const c = createGrpcClient(EchoClient, s.addr, {
      idempotentMethods: ['Echo'],
      retry: { maxAttempts: 1, initialDelayMs: 1, maxDelayMs: 2 },
      breaker: { consecutiveFailures: 2, halfOpenAfterMs: 60_000 },
    });
    cleanups.push(() => c.close());
    const fired: string[] = [];
    const boom = (name: string) => () => {
      fired.push(name);
      throw new Error(`listener ${name} threw`);
    };
    c.resilience.onStateChange(boom('state'));
    c.resilience.onRebuild(boom('rebuild'));
    c.resilience.onRetry(boom('retry'));
    c.resilience.onBreakerStateChange(boom('breaker'));

    expect(await echo(c as any, { message: 'a' })).toEqual({ from: 's', message: 'a' });
    c.resilience.rebuild('test');
    expect(await echo(c as any, { message: 'b' })).toEqual({ from: 's', message: 'b' });
    // Two failing attempts (one retry) open the breaker.
    const err = await echo(c as any, { message: 'x', failWith: grpc.status.UNAVAILABLE }).catch(
      e => e,
    );
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    // Let any deferred rethrow run: those queued with nextTick or setImmediate run before
    // this immediate (a 20 ms timer alone could fire first on a loaded machine), then
    // a short timer for a setTimeout(0) one.
    await new Promise(r => setImmediate(r));
    await new Promise(r => setTimeout(r, 20));
    expect(new Set(fired)).toEqual(new Set(['state', 'rebuild', 'retry', 'breaker']));
    expect(uncaught).not.toHaveBeenCalled();
    expect(c.resilience.health().breakerState).toBe('open');
  });
});

describe('createGrpcClient: bad input is a typed error, before any channel exists', () => {
  /** Counts channels made for `count:` targets. */
  const { target, made: channelsMade } = countingResolver('count');

  function rejected(f: () => unknown): InvalidOptionError {
    const before = channelsMade();
    let err: unknown;
    try {
      const c = f() as { close?: () => unknown };
      c?.close?.();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidOptionError);
    expect(channelsMade()).toBe(before);
    return err as InvalidOptionError;
  }

  it('a valid client makes its channel (the counter works)', async () => {
    const before = channelsMade();
    const c = createGrpcClient(PaymentsClient, target);
    expect(channelsMade()).toBe(before + 1);
    await c.close();
  });

  it('rejects a missing or bad service client class', () => {
    expect(rejected(() => createGrpcClient(undefined as any, target)).option).toBe('ServiceClient');
    expect(rejected(() => createGrpcClient({} as any, target)).option).toBe('ServiceClient');
  });

  it('rejects a bad target', () => {
    expect(rejected(() => createGrpcClient(PaymentsClient, undefined as any)).option).toBe(
      'target',
    );
    expect(rejected(() => createGrpcClient(PaymentsClient, '')).option).toBe('target');
  });

  it('rejects unknown option keys with a suggestion', () => {
    const e1 = rejected(() =>
      createGrpcClient(PaymentsClient, target, { callTimeoutMS: 100 } as any),
    );
    expect(e1.option).toBe('callTimeoutMS');
    expect(e1.message).toContain('did you mean "callTimeoutMs"');
    const e2 = rejected(() =>
      createGrpcClient(PaymentsClient, target, { retry: { maxAttemps: 1 } } as any),
    );
    expect(e2.option).toBe('retry.maxAttemps');
    expect(e2.message).toContain('did you mean "maxAttempts"');
    for (const group of ['keepalive', 'breaker', 'rebuild']) {
      expect(
        rejected(() => createGrpcClient(PaymentsClient, target, { [group]: { nope: 1 } } as any))
          .option,
      ).toBe(`${group}.nope`);
    }
  });

  it('turns a throwing getter into InvalidOptionError naming the field', () => {
    const options = {
      get callTimeoutMs(): number {
        throw new Error('getter boom');
      },
    };
    expect(rejected(() => createGrpcClient(PaymentsClient, target, options)).option).toBe(
      'callTimeoutMs',
    );
    const nested = {
      retry: {
        get maxAttempts(): number {
          throw new Error('getter boom');
        },
      },
    };
    expect(rejected(() => createGrpcClient(PaymentsClient, target, nested)).option).toBe(
      'retry.maxAttempts',
    );
    const channelOptions = {
      get 'grpc.primary_user_agent'(): string {
        throw new Error('getter boom');
      },
    };
    expect(
      rejected(() => createGrpcClient(PaymentsClient, target, { channelOptions })).option,
    ).toBe('channelOptions.grpc.primary_user_agent');
  });

  it('rejects channel option values that are not plain values, self-toJSON objects included', () => {
    const selfJson: any = {};
    selfJson.toJSON = () => ({ toJSON: selfJson.toJSON, x: selfJson });
    expect(
      rejected(() =>
        createGrpcClient(PaymentsClient, target, { channelOptions: { 'x.custom': selfJson } }),
      ).option,
    ).toBe('channelOptions.x.custom');
    expect(
      rejected(() =>
        createGrpcClient(PaymentsClient, target, { channelOptions: { 'x.n': Number.NaN } }),
      ).option,
    ).toBe('channelOptions.x.n');
  });

  it.each(['{bad', 'null', '[]', '3'])('rejects grpc.service_config %s', sc => {
    expect(
      rejected(() =>
        createGrpcClient(PaymentsClient, target, {
          channelOptions: { 'grpc.service_config': sc },
        }),
      ).option,
    ).toBe('channelOptions.grpc.service_config');
  });
});

describe('createGrpcClient: a bad call deadline', () => {
  it.each([['soon'], [Number.NaN], [new Date(Number.NaN)]])(
    '%s throws InvalidOptionError at the call, before anything is sent',
    async deadline => {
      const s = await startEchoServer('s');
      cleanups.push(() => s.kill());
      const c = createGrpcClient(EchoClient, s.addr);
      cleanups.push(() => c.close());
      const cb = vi.fn();
      for (const call of [
        () => (c as any).Echo({ message: 'x' }, new grpc.Metadata(), { deadline }, cb),
        () => (c as any).Count({ n: 1 }, new grpc.Metadata(), { deadline }),
      ]) {
        let err: unknown;
        try {
          call();
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(InvalidOptionError);
        expect((err as InvalidOptionError).option).toBe('deadline');
      }
      // A good call afterwards is a barrier: had a bad one been sent, it would have
      // reached the server first (no real-time sleep to wait for it).
      expect(await echo(c as any, { message: 'barrier' })).toEqual({
        from: 's',
        message: 'barrier',
      });
      expect(cb).not.toHaveBeenCalled();
      expect(s.calls).toEqual({ Echo: 1, Count: 0 });
    },
  );
});
