/**
 * A watch whose remembered revision is ahead of the cluster: cluster A behind our
 * fault proxy, a watcher that saw 50 puts (it would resume at ~52), then a fresh
 * cluster B (revision ~1) behind the same address. The watch must resume on B,
 * deliver B's next put, and say so (onWatchRewind and a warn line).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IKeyValue } from 'etcd3';
import { Etcd3, type WatchRewind } from '../../lib';
import { startEtcd, startProxy, type EtcdCluster, type FaultProxy } from '../../lib/testing';
import { waitFor } from './helpers';

describe('watch resume when the cluster went back in time', () => {
  let a: EtcdCluster;
  let b: EtcdCluster | undefined;
  let proxy: FaultProxy;
  let client: Etcd3;
  const warnings: string[] = [];

  beforeAll(async () => {
    a = await startEtcd({ members: 1 });
    proxy = await startProxy({ target: a.endpoints[0] });
    const log: any = {
      error() {},
      info() {},
      debug() {},
      trace() {},
      warn(obj: unknown, msg?: string) {
        warnings.push(typeof obj === 'string' ? obj : String(msg));
      },
      child: () => log,
    };
    client = new Etcd3({ hosts: proxy.endpoint, logger: log });
  });
  afterAll(async () => {
    await client?.close();
    await proxy?.close();
    await a?.stop();
    await b?.stop();
  });

  it('resumes at the new cluster revision, delivers the next put, and fires onWatchRewind', async () => {
    const rewinds: WatchRewind[] = [];
    client.onWatchRewind(r => rewinds.push(r));
    const seen: string[] = [];
    const watcher = await client.watch().key('rw/k').create();
    watcher.on('put', (kv: IKeyValue) => seen.push(kv.value.toString()));
    for (let i = 1; i <= 50; i++) {
      await client.put('rw/k').value(`a${i}`);
    }
    await waitFor(() => seen.length === 50, 10_000);
    const remembered = BigInt(watcher.lastRevision()!);
    expect(remembered).toBeGreaterThanOrEqual(51n);

    b = await startEtcd({ members: 1 });
    proxy.retarget(b.endpoints[0]);
    proxy.reset(); // the watch stream breaks and re-attaches on B, at ~52

    // B's revision is ~1: wait until the watch has re-attached there, then write.
    const direct = new Etcd3({ hosts: b.endpoints });
    try {
      await waitFor(() => rewinds.length > 0, 10_000);
      await direct.put('rw/k').value('b1');
      await waitFor(() => seen.includes('b1'), 10_000);
    } finally {
      await direct.close();
    }
    expect(rewinds).toHaveLength(1);
    expect(rewinds[0].watcher).toBe(watcher);
    expect(BigInt(rewinds[0].fromRevision)).toBe(remembered);
    expect(BigInt(rewinds[0].toRevision)).toBeLessThan(10n);
    expect(warnings.some(w => /went back in time/.test(w))).toBe(true);
    // etcd3-compatible: the watcher's own resume point was lowered too.
    expect(BigInt(watcher.lastRevision()!)).toBeLessThan(remembered);
    await watcher.cancel();
  });
});
