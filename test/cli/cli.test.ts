import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DOCTOR_OPTIONS,
  endpointsFlag,
  intFlag,
  parseCommand,
  SERVICES_OPTIONS,
  UsageError,
} from '../../lib/cli/args';
import { credentials, etcd3Options, tlsFiles } from '../../lib/cli/connection';
import { checkVersion } from '../../lib/cli/etcd-checks';
import { conclusiveHoldMs } from '../../lib/cli/keepalive-check';
import { main } from '../../lib/cli/main';
import { hostPort } from '../../lib/cli/probes';
import { isHealthy, renderText, type EndpointReport } from '../../lib/cli/report';
import { capture } from './capture';

const p = (argv: string[]) => parseCommand(argv, DOCTOR_OPTIONS, 0);

describe('parseCommand', () => {
  it('reads --flag value, --flag=value, booleans and positionals', () => {
    const a = parseCommand(
      ['orders', '--prefix', 'svc/', '--timeout=100', '--watch'],
      SERVICES_OPTIONS,
      1,
    );
    expect(a.positionals).toEqual(['orders']);
    expect(a.flags.get('prefix')).toBe('svc/');
    expect(a.flags.get('timeout')).toBe('100');
    expect(a.flags.get('watch')).toBe(true);
  });

  it('rejects unknown flags, missing values and values on booleans', () => {
    expect(() => p(['--nope'])).toThrow(/Unknown option '--nope'/);
    expect(() => parseCommand(['--prefix'], SERVICES_OPTIONS, 1)).toThrow(/--prefix/);
    expect(() => parseCommand(['--prefix', '--watch'], SERVICES_OPTIONS, 1)).toThrow(UsageError);
    expect(() => p(['--json=1'])).toThrow(UsageError);
  });

  it('validates integers and normalises endpoints', () => {
    expect(intFlag(p(['--timeout', '250']), 'timeout', 3000)).toBe(250);
    expect(intFlag(p([]), 'timeout', 3000)).toBe(3000);
    expect(() => intFlag(p(['--timeout', '1.5']), 'timeout', 3000)).toThrow(/integer/);
    expect(endpointsFlag(p(['--endpoints', '10.0.0.1:2379, https://e:2379/']))).toEqual([
      'http://10.0.0.1:2379',
      'https://e:2379',
    ]);
    expect(endpointsFlag(p(['--endpoints', 'h,https://h:443,[::1]:1']))).toEqual([
      'http://h:2379',
      'https://h:443',
      'http://[::1]:1',
    ]);
    expect(hostPort('http://[::1]:2379')).toEqual({ host: '::1', port: 2379 });
  });
});

describe('connection flags', () => {
  it('reads the password from the named environment variable only', () => {
    process.env.ETCD3R_TEST_PW = 'pw-from-env';
    try {
      const args = p(['--user', 'root', '--password-env', 'ETCD3R_TEST_PW']);
      expect(credentials(args)).toEqual({ username: 'root', password: 'pw-from-env' });
      expect(etcd3Options(['http://a:1'], {}, credentials(args))).toEqual({
        hosts: ['http://a:1'],
        auth: { username: 'root', password: 'pw-from-env' },
      });
    } finally {
      delete process.env.ETCD3R_TEST_PW;
    }
    const unset = p(['--user', 'root', '--password-env', 'ETCD3R_TEST_PW']);
    expect(() => credentials(unset)).toThrow(/ETCD3R_TEST_PW: the environment variable is not set/);
    expect(() => credentials(p(['--user', 'root']))).toThrow(/--password-env/);
  });

  it('reads TLS files and insists on cert+key+cacert together', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cli-tls-'));
    const file = path.join(dir, 'x.pem');
    writeFileSync(file, 'PEM');
    expect(tlsFiles(p(['--cacert', file])).ca?.toString()).toBe('PEM');
    expect(() => tlsFiles(p(['--cert', file]))).toThrow(/--cert and --key go together/);
    expect(() => tlsFiles(p(['--cert', file, '--key', file]))).toThrow(/--cert needs --cacert/);
    expect(() => tlsFiles(p(['--cacert', path.join(dir, 'missing')]))).toThrow(
      /cannot read the file \(ENOENT\)/,
    );
  });
});

describe('doctor report', () => {
  const reports: EndpointReport[] = [
    {
      endpoint: 'http://a:2379',
      checks: [
        { name: 'reachable', status: 'pass', detail: 'ok' },
        { name: 'latency', status: 'warn', detail: 'slow', fix: 'look' },
      ],
    },
    {
      endpoint: 'http://b:2379',
      checks: [{ name: 'reachable', status: 'fail', detail: 'refused', fix: 'start etcd' }],
    },
  ];

  it('prints one line per check, a FIX under each problem, and the verdict', () => {
    const text = renderText(reports);
    expect(text).toContain('  [PASS] reachable  ok\n');
    expect(text).toMatch(/\[WARN\] latency +slow\n +FIX: look\n/);
    expect(text).toMatch(/\[FAIL\] reachable +refused\n +FIX: start etcd\n/);
    expect(text).toContain(
      'Verdict: UNHEALTHY (1 of 2 endpoints failed: http://b:2379: reachable)',
    );
    expect(isHealthy(reports)).toBe(false);
    expect(renderText([reports[0]!])).toContain('Verdict: HEALTHY (1 endpoint, 1 with warnings)');
    expect(isHealthy([reports[0]!])).toBe(true);
  });

  it('grades versions and sizes the conclusive keepalive hold', () => {
    const status = (version: string) => ({ version, dbSize: '1048576', raftTerm: '2' }) as any;
    expect(checkVersion(status('3.4.23')).status).toBe('pass');
    expect(checkVersion(status('3.5.1')).detail).toBe('etcd 3.5.1, db 1.0 MiB, raft term 2');
    expect(checkVersion(status('3.3.9')).status).toBe('warn');
    expect(conclusiveHoldMs(5000)).toBe(22_000);
  });
});

describe('main', () => {
  it('prints usage; unknown commands and bad options exit 2', async () => {
    const help = capture();
    expect(await main(['--help'], help.io)).toBe(0);
    expect(help.out()).toContain('Usage: etcd3-resilient <command>');
    const none = capture();
    expect(await main([], none.io)).toBe(2);
    const unknown = capture();
    expect(await main(['frob'], unknown.io)).toBe(2);
    expect(unknown.err()).toContain('unknown command "frob"');
    const bad = capture();
    expect(await main(['services', 'a', 'b'], bad.io)).toBe(2);
    expect(bad.err()).toContain('at most one service name');
    const badName = capture();
    expect(await main(['services', 'bad name!'], badName.io)).toBe(2);
    const doctorHelp = capture();
    expect(await main(['doctor', '--help'], doctorHelp.io)).toBe(0);
    expect(doctorHelp.out()).toContain('--keepalive-check-ms');
  });
});
