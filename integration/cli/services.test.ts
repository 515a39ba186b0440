/**
 * `etcd3-resilient services` as a child process against real etcd: listing
 * (table and Go naming JSON) and following changes; the launcher in bin/.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Etcd3 as RawEtcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Etcd3 } from '../../lib/client';
import { register, type Registration } from '../../lib/registry';
import { freePort, startEtcd, type EtcdCluster } from '../../lib/testing';
import { runCli, startCli } from './helpers';

const goRecord = (addr: string, metadata: unknown = null) =>
  JSON.stringify({ Op: 0, Addr: addr, Metadata: metadata });

describe('services', () => {
  let cluster: EtcdCluster;
  let writer: RawEtcd3;
  let client: Etcd3;
  let reg: Registration;

  beforeAll(async () => {
    cluster = await startEtcd();
    writer = new RawEtcd3({
      hosts: cluster.endpoints,
      grpcOptions: { 'grpc.use_local_subchannel_pool': 1 },
    });
    client = createClient({ hosts: cluster.endpoints });
    // One instance registered by our register(), two written as a Go service would, one junk key.
    reg = register(client, {
      service: 'orders',
      id: 'node-a',
      addr: '10.0.0.5:8080',
      metadata: { zone: 'a' },
    });
    await reg.ready();
    await writer.put('orders/node-b').value(goRecord('10.0.0.6:8080'));
    await writer.put('payments/p1').value(goRecord('10.0.1.1:9000'));
    await writer.put('config/flag').value('on');
  });
  afterAll(async () => {
    await reg?.close();
    await client?.close();
    writer?.close();
    await cluster?.stop();
  });

  it('lists every registered instance as a table, skipping keys that are no records', async () => {
    const r = await runCli(['services', '--endpoints', cluster.endpoints[0]!]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      'orders\tnode-a\t10.0.0.5:8080\t{"zone":"a"}',
      'orders\tnode-b\t10.0.0.6:8080',
      'payments\tp1\t10.0.1.1:9000',
    ]);
    expect(r.stderr).toContain('3 instance(s)');
  });

  it('lists one service as Go naming JSON lines', async () => {
    const r = await runCli(['services', 'orders', '--json', '--endpoints', cluster.endpoints[0]!]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map(l => JSON.parse(l));
    expect(lines).toEqual([
      {
        service: 'orders',
        id: 'node-a',
        key: 'orders/node-a',
        Op: 0,
        Addr: '10.0.0.5:8080',
        Metadata: { zone: 'a' },
      },
      {
        service: 'orders',
        id: 'node-b',
        key: 'orders/node-b',
        Op: 0,
        Addr: '10.0.0.6:8080',
        Metadata: null,
      },
    ]);
  });

  it('follows a service with --watch: present, added, updated, removed; exits 0 on SIGTERM', async () => {
    const cli = startCli([
      'services',
      'orders',
      '--watch',
      '--json',
      '--endpoints',
      cluster.endpoints[0]!,
    ]);
    try {
      await cli.waitFor('"id":"node-b"');
      await writer.put('orders/node-c').value(goRecord('10.0.0.7:8080'));
      await cli.waitFor('"event":"added","service":"orders","id":"node-c"');
      await writer.put('orders/node-c').value(goRecord('10.0.0.8:8080'));
      await cli.waitFor('"event":"updated","service":"orders","id":"node-c"');
      await writer.delete().key('orders/node-c');
      await cli.waitFor('"event":"removed","service":"orders","id":"node-c"');
      cli.child.kill('SIGTERM');
      const r = await cli.exited(10_000);
      expect(r.code).toBe(0);
      const events = r.stdout
        .trim()
        .split('\n')
        .map(l => JSON.parse(l) as { event: string; id: string; Addr: string });
      expect(events.map(e => `${e.event} ${e.id}`)).toEqual([
        'present node-a',
        'present node-b',
        'added node-c',
        'updated node-c',
        'removed node-c',
      ]);
      expect(events.find(e => e.event === 'updated')!.Addr).toBe('10.0.0.8:8080');
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('exits 1 with a pointer to doctor when etcd cannot be reached', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await runCli(['services', '--endpoints', dead, '--timeout', '1000']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `FIX: check the endpoints with \`etcd3-resilient doctor --endpoints ${dead}\``,
    );
  });
});

describe('bin/etcd3-resilient.js', () => {
  it('runs the built CLI (npm test builds first)', async () => {
    const built = path.join(__dirname, '..', '..', 'dist', 'lib', 'cli', 'main.js');
    expect(existsSync(built), 'dist/lib/cli/main.js is missing: run `npm run build`').toBe(true);
    const r = await startCli(['--help'], {}, true).exited(20_000);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: etcd3-resilient <command>');
    const bad = await startCli(['frobnicate'], {}, true).exited(20_000);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown command "frobnicate"');
  });
});
