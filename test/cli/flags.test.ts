/**
 * The CLI's flags, table-tested through main() with captured output: help and
 * version (exit 0, no network), usage errors (stderr, exit 2, no stack trace),
 * bounded timeouts and endpoint URLs whose credentials are never printed.
 */
import * as net from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseCommand, SERVICES_OPTIONS, DOCTOR_OPTIONS } from '../../lib/cli/args';
import { main } from '../../lib/cli/main';
import { capture } from './capture';

const pkg = require('../../package.json') as { version: string };

interface Row {
  readonly argv: string[];
  readonly code: 0 | 2;
  /** Expected on stdout (exit 0) or stderr (exit 2). */
  readonly says: RegExp;
}

const UNROUTABLE = '--endpoints=http://10.255.255.1:2379';

const rows: Row[] = [
  { argv: ['--help'], code: 0, says: /^Usage: etcd3-resilient <command>/ },
  { argv: ['-h'], code: 0, says: /^Usage: etcd3-resilient <command>/ },
  { argv: ['help'], code: 0, says: /^Usage: etcd3-resilient <command>/ },
  { argv: ['help', 'doctor'], code: 0, says: /^Usage: etcd3-resilient doctor/ },
  { argv: ['--version'], code: 0, says: new RegExp(`^${pkg.version.replace(/\./g, '\\.')}\\n$`) },
  { argv: ['doctor', '-h'], code: 0, says: /^Usage: etcd3-resilient doctor/ },
  { argv: ['doctor', '--help', UNROUTABLE], code: 0, says: /^Usage: etcd3-resilient doctor/ },
  { argv: ['services', '-h'], code: 0, says: /^Usage: etcd3-resilient services/ },
  { argv: ['-h', 'services'], code: 0, says: /^Usage: etcd3-resilient services/ },
  {
    argv: ['services', 'orders', '-w', '--help'],
    code: 0,
    says: /^Usage: etcd3-resilient services/,
  },
  { argv: [], code: 2, says: /Usage: etcd3-resilient <command>/ },
  { argv: ['--frobnicate'], code: 2, says: /Unknown option '--frobnicate'/ },
  { argv: ['frobnicate'], code: 2, says: /unknown command "frobnicate"/ },
  {
    argv: ['doctor', '--frobnicate'],
    code: 2,
    says: /Unknown option.*\n\nUsage: etcd3-resilient doctor/,
  },
  { argv: ['doctor', '-x'], code: 2, says: /Unknown option '-x'/ },
  { argv: ['doctor', 'extra'], code: 2, says: /Unexpected argument 'extra'/ },
  { argv: ['services', 'a', 'b'], code: 2, says: /at most one service name/ },
  { argv: ['services', '--prefix'], code: 2, says: /--prefix/ },
  { argv: ['services', '--prefix', '--watch'], code: 2, says: /ambiguous/ },
  { argv: ['doctor', '--json=yes'], code: 2, says: /--json/ },
  { argv: ['doctor', '--timeout', '99999999999'], code: 2, says: /--timeout must be .*2147483647/ },
  { argv: ['services', '--timeout=2147483648'], code: 2, says: /--timeout must be/ },
  { argv: ['doctor', '--timeout', '0'], code: 2, says: /--timeout must be/ },
  { argv: ['doctor', '--timeout', '1e3'], code: 2, says: /--timeout must be/ },
  { argv: ['doctor', '--keepalive-check-ms', '9999999999'], code: 2, says: /2147483647/ },
  { argv: ['doctor', '--endpoints', 'http://[bad'], code: 2, says: /not a valid URL/ },
  { argv: ['services', '--endpoints', 'ftp://h:1'], code: 2, says: /http:\/\/ or https:\/\// },
  { argv: ['doctor', '--endpoints', 'http://127.0.0.1:99999'], code: 2, says: /not a valid URL/ },
  { argv: ['doctor', '--endpoints', 'http://h/path'], code: 2, says: /path/ },
  {
    argv: ['doctor', '--endpoints', 'http://user:s3cret-pw@127.0.0.1:2379'],
    code: 2,
    says: /http:\/\/user:\*\*\*@127\.0\.0\.1:2379.*--password-env/,
  },
  {
    argv: ['services', '--endpoints', '127.0.0.1:2379,user:s3cret-pw@h:1'],
    code: 2,
    says: /http:\/\/user:\*\*\*@h:1/,
  },
  {
    argv: ['doctor', '--endpoints', 'http://u:s3cret-pw@[bad'],
    code: 2,
    says: /http:\/\/u:\*\*\*@\[bad/,
  },
];

describe('CLI flags', () => {
  let connect: ReturnType<typeof vi.spyOn>;
  beforeEach(() => {
    connect = vi.spyOn(net.Socket.prototype, 'connect');
  });
  afterEach(() => {
    connect.mockRestore();
  });

  it.each(rows.map(r => ({ ...r, line: r.argv.join(' ') || '(nothing)' })))(
    '$line -> exit $code',
    async ({ argv, code, says }) => {
      const c = capture();
      expect(await main(argv, c.io)).toBe(code);
      if (code === 0) {
        expect(c.out()).toMatch(says);
        expect(c.err()).toBe('');
      } else {
        expect(c.err()).toMatch(says);
        expect(c.err()).toMatch(/\n\nUsage: etcd3-resilient/);
        expect(c.out()).toBe('');
      }
      const all = c.out() + c.err();
      expect(all).not.toContain('s3cret-pw');
      expect(all).not.toMatch(/\n\s+at /); // no stack trace
      expect(connect).not.toHaveBeenCalled();
    },
  );
});

describe('parseCommand', () => {
  it('reads -w as --watch, -h as --help, --flag=value, and positionals', () => {
    for (const argv of [
      ['orders', '-w'],
      ['-w', 'orders'],
      ['orders', '--watch'],
    ]) {
      const a = parseCommand(argv, SERVICES_OPTIONS, 1);
      expect(a.positionals).toEqual(['orders']);
      expect(a.flags.get('watch')).toBe(true);
    }
    const d = parseCommand(['--timeout=100', '--json', '-h'], DOCTOR_OPTIONS, 0);
    expect(d.flags.get('timeout')).toBe('100');
    expect(d.flags.get('json')).toBe(true);
    expect(d.flags.get('help')).toBe(true);
    expect(parseCommand(['--', '-w'], SERVICES_OPTIONS, 1).positionals).toEqual(['-w']);
  });
});
