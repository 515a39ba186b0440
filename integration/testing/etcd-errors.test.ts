/**
 * startEtcd / findEtcdBinary failures: each bad input gives a clear, typed error
 * and leaves nothing running.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InvalidOptionError } from '../../lib/errors';
import {
  EtcdNotFoundError,
  EtcdStartError,
  findEtcdBinary,
  freePort,
  isPidAlive,
  startEtcd,
  WELL_KNOWN_ETCD_DIRS,
} from '../../lib/testing';
import { expectNothingLeft } from './helpers';

let scratch: string;
/** Writes an executable shell script that answers `--version` like etcd and runs `body` otherwise. */
function fakeEtcd(name: string, body: string): string {
  const file = path.join(scratch, name);
  writeFileSync(
    file,
    `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "etcd Version: 0.0.0-fake"; exit 0; fi\n${body}\n`,
  );
  chmodSync(file, 0o755);
  return file;
}

beforeAll(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'etcd3r-errors-'));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  expectNothingLeft();
});

describe('option validation (before any process starts)', () => {
  test.each([0, 8, 1.5, -1, Number.NaN])('members: %s is rejected', async members => {
    const err = await startEtcd({ members }).catch(e => e);
    expect(err).toBeInstanceOf(InvalidOptionError);
    expect(err.message).toMatch(/"members".*integer from 1 to 7/);
  });

  test('startTimeoutMs, scheme and port lists are validated', async () => {
    await expect(startEtcd({ startTimeoutMs: 0 })).rejects.toThrow(/"startTimeoutMs"/);
    await expect(startEtcd({ scheme: 'ftp' as never })).rejects.toThrow(/"scheme"/);
    await expect(startEtcd({ members: 2, clientPorts: [1234] })).rejects.toThrow(
      /"clientPorts".*2 port/,
    );
    await expect(startEtcd({ peerPorts: [70000] })).rejects.toBeInstanceOf(InvalidOptionError);
  });
});

describe('binary problems', () => {
  test('a binary that is not etcd (/bin/true) is named as such', async () => {
    const err = await startEtcd({ etcdBin: '/bin/true' }).catch(e => e);
    expect(err).toBeInstanceOf(EtcdStartError);
    expect(err.message).toContain('/bin/true is not an etcd binary');
    expect(err.message).toContain('apt-get install');
  });

  test('a script that claims to be etcd but exits: error carries its stderr tail', async () => {
    const bin = fakeEtcd('crashing-etcd', 'echo "boom: cannot open data dir" >&2\nexit 3');
    const err = await startEtcd({ etcdBin: bin }).catch(e => e);
    expect(err).toBeInstanceOf(EtcdStartError);
    expect(err.message).toMatch(/exited before it became healthy/);
    expect(err.message).toContain('boom: cannot open data dir');
    expect(err.stderrTail).toContain('exited (code 3');
  });

  test('a process that never becomes healthy times out with its stderr, and is killed', async () => {
    const pidFile = path.join(scratch, 'hanging.pid');
    const bin = fakeEtcd(
      'hanging-etcd',
      `echo "fake etcd waiting" >&2\necho $$ > ${pidFile}\nexec sleep 60`,
    );
    const start = Date.now();
    const err = await startEtcd({ etcdBin: bin, startTimeoutMs: 800 }).catch(e => e);
    expect(err).toBeInstanceOf(EtcdStartError);
    expect(err.message).toMatch(/m0 \(http:\/\/127\.0\.0\.1:\d+\) was not healthy within 800 ms/);
    expect(err.message).toContain('fake etcd waiting');
    expect(Date.now() - start).toBeGreaterThanOrEqual(800);
    expect(Date.now() - start).toBeLessThan(10_000);
    expect(isPidAlive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
  });

  test('ETCD_BIN pointing nowhere gives EtcdNotFoundError with install instructions', () => {
    const saved = process.env.ETCD_BIN;
    process.env.ETCD_BIN = path.join(scratch, 'missing-etcd');
    try {
      const err = (() => {
        try {
          findEtcdBinary();
        } catch (e) {
          return e as Error;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(EtcdNotFoundError);
      expect(err!.message).toContain('missing-etcd is not an executable file');
      expect(err!.message).toContain('apt-get install -y etcd-server');
      expect(err!.message).toContain('ETCD_BIN');
    } finally {
      if (saved === undefined) delete process.env.ETCD_BIN;
      else process.env.ETCD_BIN = saved;
    }
  });

  test('no etcd on PATH: the well-known paths are searched, nothing is installed', () => {
    // Without any etcd at all: test/testing/etcd-binary.test.ts (it hides the real binaries).
    const saved = { bin: process.env.ETCD_BIN, path: process.env.PATH };
    delete process.env.ETCD_BIN;
    process.env.PATH = scratch; // holds only our fake scripts, none called "etcd"
    try {
      const wellKnown = WELL_KNOWN_ETCD_DIRS.map(d => path.join(d, 'etcd')).find(f =>
        existsSync(f),
      );
      if (wellKnown) expect(findEtcdBinary()).toBe(wellKnown);
      else expect(() => findEtcdBinary()).toThrow(/No etcd binary found.*apt-get install/);
    } finally {
      process.env.PATH = saved.path;
      if (saved.bin !== undefined) process.env.ETCD_BIN = saved.bin;
    }
  });
});

describe('ports', () => {
  test.each(['clientPorts', 'peerPorts'] as const)(
    'a %s entry that is in use is a clear error',
    async key => {
      const port = await freePort();
      const squatter = net.createServer();
      await new Promise<void>(resolve => squatter.listen(port, '127.0.0.1', resolve));
      try {
        const err = await startEtcd({ [key]: [port] }).catch(e => e);
        expect(err).toBeInstanceOf(EtcdStartError);
        expect(err.message).toBe(`${key}: port ${port} on 127.0.0.1 is already in use`);
      } finally {
        await new Promise(resolve => squatter.close(resolve));
      }
    },
  );

  test('fixed free ports are used as given', async () => {
    const [client, peer] = [await freePort(), await freePort()];
    await using cluster = await startEtcd({ clientPorts: [client], peerPorts: [peer] });
    expect(cluster.endpoints).toEqual([`http://127.0.0.1:${client}`]);
    expect(cluster.member(0).peerUrl).toBe(`http://127.0.0.1:${peer}`);
  });
});

describe('member misuse', () => {
  test("restart() when someone took the member's port meanwhile fails with etcd's bind error", async () => {
    await using cluster = await startEtcd({ startTimeoutMs: 5000 });
    const m = cluster.member(0);
    await m.kill();
    // Destroys what it accepts (our own health probes), so close() cannot wait on them.
    const squatter = net.createServer(socket => socket.destroy());
    await new Promise<void>(resolve => squatter.listen(m.clientPort, '127.0.0.1', resolve));
    try {
      const err = await m.restart().catch(e => e);
      expect(err).toBeInstanceOf(EtcdStartError);
      expect(err.message).toMatch(/m0 exited before it became healthy/);
      expect(err.message).toMatch(/address already in use/);
      expect(m.running).toBe(false);
    } finally {
      await new Promise(resolve => squatter.close(resolve));
    }
    await m.restart(); // port free again: same member comes back
    expect(m.running).toBe(true);
  });

  test('freeze/thaw of a stopped member and kill(SIGSTOP) throw InvalidOptionError', async () => {
    await using cluster = await startEtcd();
    const m = cluster.member(0);
    await expect(m.kill('SIGSTOP')).rejects.toBeInstanceOf(InvalidOptionError);
    await m.stop();
    expect(() => m.freeze()).toThrow(/cannot freeze m0: it is not running/);
    expect(() => m.thaw()).toThrow(InvalidOptionError);
  });
});
