/**
 * Single etcd member: SIGKILL + restart, and SIGSTOP freeze. The client must
 * fail calls with a typed error within their deadline and recover on its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRPCDeadlineExceededError, isRecoverableError } from 'etcd3';
import { createClient, isResilientEtcdError, type Etcd3 } from '../../lib';
import { startEtcd, type EtcdCluster } from '../../lib/testing';
import { sleep, timed } from './helpers';

const isTyped = (e: unknown) =>
  isResilientEtcdError(e) || (e instanceof Error && isRecoverableError(e));

describe('single member faults', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    client = createClient({ hosts: cluster.endpoints });
    await client.put('k').value('v0');
  });
  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
  });

  it('SIGKILL + restart: the first call after etcd is healthy succeeds within 1 s', async () => {
    const member = cluster.member(0);
    await member.kill('SIGKILL');
    // Calls during the outage fail fast and typed, never hang.
    const during = await timed(() => client.get('k').string());
    expect(during.ok).toBe(false);
    expect(isTyped(during.error)).toBe(true);
    expect(during.ms).toBeLessThan(5000 + 500);
    await sleep(3000); // long enough for grpc-js and our rebuilds to back off
    await member.restart(); // resolves once /health answers
    const first = await timed(() => client.get('k').string());
    expect(first.error).toBeUndefined();
    expect(first.value).toBe('v0');
    console.log(
      `[measure] first call after restart: ${first.ms} ms; call during outage failed in ${during.ms} ms`,
    );
    expect(first.ms).toBeLessThan(1000);
    expect(client.health(), JSON.stringify(client.health())).toMatchObject({ healthy: true });
  });

  it('SIGSTOP for 30 s: every call fails typed within its deadline; after SIGCONT calls succeed within 1 s', async () => {
    const member = cluster.member(0);
    await client.put('k').value('v1');
    member.freeze();
    const results: Array<Awaited<ReturnType<typeof timed>>> = [];
    const end = Date.now() + 30_000;
    try {
      // Sequential gets and puts for the whole freeze; each must end by its deadline.
      for (let i = 0; Date.now() < end - 1000 && i < 200; i++) {
        const r = await timed<unknown>(() =>
          i % 2 ? client.get('k').string() : client.put(`frozen/${i}`).value('x').exec(),
        );
        results.push(r);
      }
    } finally {
      await sleep(Math.max(0, end - Date.now()));
      member.thaw();
    }
    expect(results.length).toBeGreaterThan(5);
    for (const r of results) {
      expect(r.ok).toBe(false);
      expect(isTyped(r.error)).toBe(true);
      expect(r.ms).toBeLessThanOrEqual(5000 + 500);
    }
    // Writes that may have reached the frozen server report a deadline, never a silent retry.
    expect(
      results.some(
        r => r.error instanceof GRPCDeadlineExceededError || isResilientEtcdError(r.error),
      ),
    ).toBe(true);
    const after = await timed(() => client.get('k').string());
    expect(after.error).toBeUndefined();
    expect(after.value).toBe('v1');
    const worst = Math.max(...results.map(r => r.ms));
    console.log(
      `[measure] freeze: ${results.length} calls, all failed typed, slowest ${worst} ms; first call after thaw ${after.ms} ms`,
    );
    expect(after.ms).toBeLessThan(1000);
  });
});
