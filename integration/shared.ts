/**
 * Helpers shared by every integration folder (each folder's `helpers.ts` re-exports
 * what it uses): bounded waits, and etcdctl setup steps that must succeed.
 */
import { expect } from 'vitest';
import { etcdctl } from '../lib/testing';

export const sleep = (ms: number) => new Promise<void>(r => setTimeout(r, ms));

/**
 * Polls `fn` every `everyMs` until it returns true; resolves with the elapsed ms.
 * Bounded by `timeoutMs` (and a hard cap on iterations); throws when not met.
 */
export async function waitFor(
  fn: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 20,
): Promise<number> {
  const start = Date.now();
  for (let i = 0; i < 100_000 && Date.now() - start < timeoutMs; i++) {
    if (await fn()) {
      return Date.now() - start;
    }
    await sleep(everyMs);
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

/** Runs each etcdctl command against `endpoints` in order; each must exit 0. */
export async function etcdctlAll(endpoints: string[], commands: string[][]): Promise<void> {
  for (const args of commands) {
    const r = await etcdctl(endpoints, args);
    expect(r.code, r.stderr).toBe(0);
  }
}

/**
 * Turns etcd's auth on: adds user `root` with `rootPassword`, runs `setup` (more users,
 * roles, grants), then `auth enable`. Each step must exit 0.
 */
export function enableAuth(
  endpoints: string[],
  rootPassword: string,
  setup: string[][] = [],
): Promise<void> {
  return etcdctlAll(endpoints, [
    ['user', 'add', `root:${rootPassword}`, '--interactive=false'],
    ...setup,
    ['auth', 'enable'],
  ]);
}
