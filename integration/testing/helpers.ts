/**
 * Shared helpers for the tests of lib/testing: an etcd3 client with no retries
 * or breakers (so each call is exactly one gRPC attempt) and leak checks.
 */
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { expect } from 'vitest';
import { isPidAlive, trackedDataDirs, trackedPids } from '../../lib/testing';

/**
 * One gRPC attempt per call: no global retry, no host breaker. A local subchannel
 * pool gives every client its own TCP connection: with grpc-js's default global
 * pool a "new" client to the same target silently reuses an existing connection.
 */
export function rawClient(hosts: string | string[]): Etcd3 {
  return new Etcd3({
    hosts,
    faultHandling: { global: noop, host: () => noop },
    grpcOptions: { 'grpc.use_local_subchannel_pool': 1 },
  });
}

/** gRPC call options with a deadline `ms` from now. */
export const within = (ms: number) => ({ deadline: Date.now() + ms });

/** Settles `p` into a value or an error, and how long it took (ms). */
export async function timed<T>(p: Promise<T>): Promise<{ value?: T; error?: any; ms: number }> {
  const start = performance.now();
  try {
    const value = await p;
    return { value, ms: performance.now() - start };
  } catch (error) {
    return { error, ms: performance.now() - start };
  }
}

/** Asserts this worker has no etcd process running and no data dir left. */
export function expectNothingLeft(pids: number[] = []): void {
  expect(trackedPids()).toEqual([]);
  expect(trackedDataDirs()).toEqual([]);
  for (const pid of pids) expect(isPidAlive(pid), `pid ${pid} still alive`).toBe(false);
}
