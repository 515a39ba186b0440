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

  it('follows every service with -w --json: a removed instance keeps its last known record', async () => {
    const cli = startCli(['services', '-w', '--json', '--endpoints', cluster.endpoints[0]!]);
    try {
      await cli.waitFor('"id":"p1"');
      await writer.put('payments/p2').value(goRecord('10.0.1.2:9000', { v: 1 }));
      await cli.waitFor('"event":"added","service":"payments","id":"p2"');
      await writer.delete().key('payments/p2');
      await cli.waitFor('"event":"removed","service":"payments","id":"p2"');
      await writer.delete().key('config/flag'); // no record: no event
      await writer.put('config/flag').value('on');
      cli.child.kill('SIGTERM');
      const r = await cli.exited(10_000);
      expect(r.code).toBe(0);
      const removed = r.stdout
        .trim()
        .split('\n')
        .map(l => JSON.parse(l) as Record<string, unknown>)
        .filter(e => e.event === 'removed');
      expect(removed).toEqual([
        {
          event: 'removed',
          service: 'payments',
          id: 'p2',
          key: 'payments/p2',
          Op: 0,
          Addr: '10.0.1.2:9000',
          Metadata: { v: 1 },
        },
      ]);
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('escapes control characters from keys and values in table, watch and JSON output', async () => {
    // Anyone who can write a key could otherwise clear the operator's screen, overwrite
    // rows (CR), forge rows and columns (LF, TAB) or reorder text (RLO).
    const id = 'evil\u001b[2J\r\u202e';
    const key = `hostile/${id}`;
    const value = JSON.stringify({
      Op: 0,
      Addr: '10.9.9.9:1',
      Metadata: { note: 'x\u001b]0;title\u0007\u009b31m\u2028\u2029\nforged\trow' },
    });
    await writer.put(key).value(value);
    const cli = startCli(['services', '--watch', '--endpoints', cluster.endpoints[0]!]);
    try {
      const table = await runCli(['services', 'hostile', '--endpoints', cluster.endpoints[0]!]);
      const json = await runCli([
        'services',
        'hostile',
        '--json',
        '--endpoints',
        cluster.endpoints[0]!,
      ]);
      await cli.waitFor('evil');
      await writer.put(`hostile/${id}2`).value(value);
      await cli.waitFor(`added`);
      cli.child.kill('SIGTERM');
      const watched = await cli.exited(10_000);
      for (const r of [table, json, watched]) {
        expect(r.code, r.stderr).toBe(0);
        // eslint-disable-next-line no-control-regex
        expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202e]/);
      }
      expect(table.stdout).toBe(
        'hostile\tevil\\x1b[2J\\r\\u202e\t10.9.9.9:1\t{"note":"x\\\\u001b]0;title\\\\u0007\\x9b31m\\u2028\\u2029\\\\nforged\\\\trow"}\n',
      );
      // Every tab in the table is a column separator: one row, four columns.
      expect(table.stdout.trim().split('\n')).toHaveLength(1);
      expect(table.stdout.trim().split('\t')).toHaveLength(4);
      expect(
        watched.stdout
          .trim()
          .split('\n')
          .every(l => l.split('\t').length <= 4),
      ).toBe(true);
      // The JSON lines still parse to exactly what is stored.
      const parsed = JSON.parse(json.stdout) as { id: string; Metadata: unknown };
      expect(parsed.id).toBe(id);
      expect(parsed.Metadata).toEqual(JSON.parse(value).Metadata);
    } finally {
      cli.child.kill('SIGKILL');
      await writer.delete().prefix('hostile/');
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
