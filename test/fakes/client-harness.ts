/**
 * Our `Etcd3` against {@link FakeEtcd} servers: the fixture shared by the client-level
 * tests (real grpc-js servers serving etcd's proto, a real client, everything closed
 * after each test).
 */
import { afterEach, beforeEach } from 'vitest';
import { Etcd3, createClient } from '../../lib/client';
import type { ResilientEtcdOptions } from '../../lib/options';
import type { FakeEtcd } from './fake-etcd';
import { waitUntil, withCleanup } from './pool-harness';

/** Timeouts the client-level tests run with unless they say otherwise. */
const TEST_TIMEOUTS: ResilientEtcdOptions = { callTimeoutMs: 3000, attemptTimeoutMs: 300 };

/**
 * {@link withCleanup} plus `client(options)`, which creates our `Etcd3` with
 * `defaults` (over 3000 ms call / 300 ms attempt timeouts) under `options`, closed
 * after the test.
 */
export function withClients(defaults: ResilientEtcdOptions = {}): {
  cleanup: Array<() => unknown>;
  fakes(n: number): Promise<FakeEtcd[]>;
  client(options: ResilientEtcdOptions): Etcd3;
} {
  const { cleanup, fakes } = withCleanup();
  const client = (options: ResilientEtcdOptions): Etcd3 => {
    const c = createClient({ ...TEST_TIMEOUTS, ...defaults, ...options });
    cleanup.push(() => c.close());
    return c;
  };
  return { cleanup, fakes, client };
}

/** Waits until every endpoint of `c` reports channel state READY. */
export const ready = (c: Etcd3) =>
  waitUntil(
    () => c.health().endpoints.every(e => e.channelState === 'READY'),
    'every endpoint is READY',
  );

/**
 * Registers hooks that collect the process' `uncaughtException`s during each test into
 * the returned array (emptied before each test).
 */
export function collectUncaught(): unknown[] {
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  beforeEach(() => {
    uncaught.splice(0);
    process.on('uncaughtException', onUncaught);
  });
  afterEach(() => {
    process.off('uncaughtException', onUncaught);
  });
  return uncaught;
}
