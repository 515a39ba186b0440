/**
 * Builds a {@link ResilientPool} over real grpc-js channels, the way `Etcd3` does,
 * for tests against {@link FakeEtcd} servers; plus small bounded helpers.
 */
import { credentials } from '@grpc/grpc-js';
import { afterEach } from 'vitest';
import { keepaliveChannelOptions } from '../../lib/channel/keepalive';
import { resolveOptions, type ResilientEtcdOptions } from '../../lib/options';
import { Endpoint } from '../../lib/pool/endpoint';
import { ResilientPool } from '../../lib/pool/resilient-pool';
import { FakeEtcd } from './fake-etcd';

export function makePool(hosts: string[], options: ResilientEtcdOptions = {}): ResilientPool {
  const resolved = resolveOptions({ ...options, hosts });
  const channelOptions = keepaliveChannelOptions(resolved.keepalive, resolved.etcd3.grpcOptions);
  return new ResilientPool(
    resolved,
    url => new Endpoint(url, credentials.createInsecure(), channelOptions, resolved),
  );
}

/** Polls `condition` every 5 ms until it holds; throws after `timeoutMs` (default 3000). */
export async function waitUntil(
  condition: () => boolean,
  what: string,
  timeoutMs = 3000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    }
    await new Promise(r => setTimeout(r, 5));
  }
}

/** Waits until every endpoint of `pool` is connected. */
export const allReady = (pool: ResilientPool) =>
  waitUntil(() => pool.endpoints.every(ep => ep.ready), 'every endpoint is READY');

/** Runs `fn`, returning its settled outcome and how long it took, in ms. */
export async function timed<T>(
  fn: () => Promise<T>,
): Promise<{ value?: T; error?: any; ms: number }> {
  const start = Date.now();
  try {
    const value = await fn();
    return { value, ms: Date.now() - start };
  } catch (error) {
    return { error, ms: Date.now() - start };
  }
}

export const putReq = (key = 'k', value = 'v') => ({
  key: Buffer.from(key),
  value: Buffer.from(value),
});
export const rangeReq = (key = 'k') => ({ key: Buffer.from(key) });

/**
 * Registers an `afterEach` that runs the returned `cleanup` functions, last first, and
 * returns `fakes(n)`, which starts n {@link FakeEtcd} servers closed by that cleanup.
 */
export function withCleanup(): {
  cleanup: Array<() => unknown>;
  fakes(n: number): Promise<FakeEtcd[]>;
} {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) {
      await fn();
    }
  });
  const fakes = async (n: number) => {
    const list = await Promise.all(Array.from({ length: n }, () => FakeEtcd.start()));
    cleanup.push(() => Promise.all(list.map(f => f.close())));
    return list;
  };
  return { cleanup, fakes };
}
