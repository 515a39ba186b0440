/**
 * startEtcd variants: https client URLs with TLS flags in extraArgs, per-member
 * extraArgs, a custom health check, and the bounded retry when a picked port is
 * taken before etcd binds it.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EtcdStartError, findEtcdBinary, freePort, startEtcd } from '../../lib/testing';
import { whichSync } from '../../lib/testing/etcd-binary';
import { expectNothingLeft, within } from './helpers';

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'etcd3r-variants-'));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  expectNothingLeft();
});

const openssl = whichSync('openssl');

describe.skipIf(!openssl)('https (needs openssl to make a throwaway certificate)', () => {
  test('serves TLS clients; default health check and leader() use the given CA', async () => {
    const key = path.join(scratch, 'server.key');
    const cert = path.join(scratch, 'server.crt');
    execFileSync(
      openssl!,
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const ca = readFileSync(cert);
    await using cluster = await startEtcd({
      scheme: 'https',
      extraArgs: [`--cert-file=${cert}`, `--key-file=${key}`],
      tls: { ca },
    });
    expect(cluster.endpoints[0]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await cluster.leader()).toBe(cluster.member(0));

    const client = new Etcd3({ hosts: cluster.endpoints, credentials: { rootCertificate: ca } });
    try {
      await client.put('secure').value('yes').options(within(5000));
      expect(await client.get('secure').options(within(5000)).string()).toBe('yes');
    } finally {
      client.close();
    }
  });
});

describe('extraArgs and healthCheck', () => {
  test('extraArgs as a function gets each member, and its flags reach that member only', async () => {
    const seen: { name: string; index: number; dataDir: string }[] = [];
    const checked = new Set<string>();
    await using cluster = await startEtcd({
      members: 3,
      extraArgs: m => {
        seen.push(m);
        return [`--quota-backend-bytes=${(m.index + 1) * 64 * 1024 * 1024}`];
      },
      healthCheck: async m => {
        checked.add(m.name);
        const res = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
        return res.ok;
      },
    });
    expect(seen.map(m => [m.name, m.index, m.dataDir])).toEqual(
      cluster.members.map(m => [m.name, m.index, m.dataDir]),
    );
    expect([...checked].sort()).toEqual(['m0', 'm1', 'm2']);
    for (const m of cluster.members) {
      expect(readFileSync(`/proc/${m.pid}/cmdline`, 'utf8')).toContain(
        `--quota-backend-bytes=${(m.index + 1) * 64 * 1024 * 1024}`,
      );
    }
  });
});

describe('port race', () => {
  /**
   * A wrapper around the real etcd that fails its first start the way etcd does when
   * a port was taken meanwhile, then behaves normally.
   */
  function flakyEtcd(): { bin: string; calls: () => string[] } {
    const id = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const log = path.join(scratch, `calls-${id}`);
    writeFileSync(log, '');
    const bin = path.join(scratch, `flaky-etcd-${id}`);
    writeFileSync(
      bin,
      [
        '#!/bin/sh',
        `if [ "$1" = "--version" ]; then exec "${findEtcdBinary()}" --version; fi`,
        `echo "$*" >> "${log}"`,
        `if [ "$(wc -l < "${log}")" -eq 1 ]; then`,
        '  echo \'{"level":"fatal","msg":"listen tcp 127.0.0.1:1: bind: address already in use"}\' >&2',
        '  exit 1',
        'fi',
        `exec "${findEtcdBinary()}" "$@"`,
      ].join('\n'),
    );
    chmodSync(bin, 0o755);
    return { bin, calls: () => readFileSync(log, 'utf8').trim().split('\n') };
  }

  test('a bind failure on randomly picked ports is retried with new ports', async () => {
    const { bin, calls } = flakyEtcd();
    await using cluster = await startEtcd({ etcdBin: bin });
    const [first, second] = calls();
    expect(calls()).toHaveLength(2);
    const port = (args: string) =>
      /--listen-client-urls=http:\/\/127\.0\.0\.1:(\d+)/.exec(args)![1];
    expect(port(second!)).toBe(String(cluster.member(0).clientPort));
    expect(port(first!)).not.toBe(port(second!));
  });

  test('with fixed ports a bind failure is reported, not retried', async () => {
    const { bin, calls } = flakyEtcd();
    const clientPort = await freePort();
    const err = await startEtcd({ etcdBin: bin, clientPorts: [clientPort] }).catch(e => e);
    expect(err).toBeInstanceOf(EtcdStartError);
    expect(err.message).toMatch(
      /etcd could not bind its ports \(\d+, \d+\): address already in use/,
    );
    expect(calls()).toHaveLength(1);
  });
});
