/**
 * Helpers shared by every integration folder (each folder's `helpers.ts` re-exports
 * what it uses): bounded waits, etcdctl setup steps that must succeed, and a one-member
 * etcd with a client for a whole `describe`.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { createClient, type Etcd3 } from '../lib/client';
import { etcdctl, startEtcd, startProxy, type EtcdCluster, type FaultProxy } from '../lib/testing';

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

/**
 * Registers `beforeAll`/`afterAll` hooks (call it inside a `describe`) that start a
 * one-member etcd and our client on it; returns both, and `cleanup`: functions run
 * after the block (last first) before the client and etcd are closed.
 */
export function withEtcdClient(): {
  readonly cluster: EtcdCluster;
  readonly client: Etcd3;
  readonly cleanup: Array<() => unknown>;
} {
  let cluster: EtcdCluster | undefined;
  let client: Etcd3 | undefined;
  const cleanup: Array<() => unknown> = [];
  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    client = createClient({ hosts: cluster.endpoints });
  });
  afterAll(async () => {
    for (const fn of cleanup.splice(0).reverse()) {
      await fn();
    }
    await client?.close();
    await cluster?.stop();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) {
      throw new Error('withEtcdClient(): etcd is only there inside the describe block');
    }
    return value;
  };
  return {
    cleanup,
    get cluster() {
      return started(cluster);
    },
    get client() {
      return started(client);
    },
  };
}

/**
 * A single etcd member, our client reaching it through a fault proxy, and an observer
 * client connected directly (unaffected by the proxy's faults).
 */
export interface ProxiedNode {
  cluster: EtcdCluster;
  proxy: FaultProxy;
  client: Etcd3;
  observer: Etcd3;
  close(): Promise<void>;
}

export async function startProxiedNode(): Promise<ProxiedNode> {
  const cluster = await startEtcd({ members: 1 });
  const proxy = await startProxy({ target: cluster.endpoints[0] });
  const client = createClient({ hosts: proxy.endpoint });
  const observer = createClient({ hosts: cluster.endpoints });
  return {
    cluster,
    proxy,
    client,
    observer,
    async close() {
      await client.close();
      await observer.close();
      await proxy.close();
      await cluster.stop();
    },
  };
}
