/**
 * The library never installs software: without etcd (no ETCD_BIN, nothing on PATH,
 * none at the well-known paths) startEtcd() runs no installer, even as root with
 * apt-get on PATH, and throws EtcdNotFoundError saying how to install etcd.
 */
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EtcdNotFoundError, findEtcdctlBinary, startEtcd } from '../../lib/testing';

// Hide every real etcd/etcdctl binary (this machine has /usr/bin/etcd).
vi.mock('node:fs', async importOriginal => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const hidden = (p: unknown) => /\/etcd(ctl)?$/.test(String(p));
  return {
    ...fs,
    accessSync: (p: string, mode?: number) => {
      if (hidden(p)) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      return fs.accessSync(p, mode);
    },
  };
});

// Record every process the library starts.
const started = vi.hoisted(() => [] as string[]);
vi.mock('node:child_process', async importOriginal => {
  const cp = await importOriginal<typeof import('node:child_process')>();
  const record =
    <F extends (...args: any[]) => any>(f: F) =>
    (...args: Parameters<F>): ReturnType<F> => {
      started.push(String(args[0]));
      return f(...args);
    };
  return {
    ...cp,
    execFileSync: record(cp.execFileSync),
    execFile: record(cp.execFile),
    execSync: record(cp.execSync),
    spawn: record(cp.spawn),
    spawnSync: record(cp.spawnSync),
  };
});

describe('finding etcd', () => {
  let dir: string;
  let marker: string;
  const saved = { path: process.env.PATH, bin: process.env.ETCD_BIN, ctl: process.env.ETCDCTL_BIN };

  beforeEach(() => {
    started.length = 0;
    dir = mkdtempSync(path.join(os.tmpdir(), 'etcd3r-no-etcd-'));
    marker = path.join(dir, 'installer-ran');
    // An apt-get (and sudo) that would leave a trace if anything called them.
    for (const name of ['apt-get', 'apt', 'sudo']) {
      const file = path.join(dir, name);
      writeFileSync(file, `#!/bin/sh\necho "$0 $*" >> ${marker}\nexit 0\n`);
      chmodSync(file, 0o755);
    }
    process.env.PATH = dir;
    delete process.env.ETCD_BIN;
    delete process.env.ETCDCTL_BIN;
  });
  afterEach(() => {
    process.env.PATH = saved.path;
    if (saved.bin === undefined) delete process.env.ETCD_BIN;
    else process.env.ETCD_BIN = saved.bin;
    if (saved.ctl === undefined) delete process.env.ETCDCTL_BIN;
    else process.env.ETCDCTL_BIN = saved.ctl;
  });

  it('startEtcd() without etcd runs no installer and throws EtcdNotFoundError with the fix', async () => {
    const err = await startEtcd().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EtcdNotFoundError);
    expect((err as Error).message).toContain('apt-get install -y etcd-server');
    expect((err as Error).message).toContain('ETCD_BIN');
    expect(started).toEqual([]);
    expect(existsSync(marker)).toBe(false);
  });

  it('findEtcdctlBinary() without etcdctl runs no installer either', () => {
    expect(() => findEtcdctlBinary()).toThrow(EtcdNotFoundError);
    expect(() => findEtcdctlBinary()).toThrow(/etcd-client/);
    expect(started).toEqual([]);
    expect(existsSync(marker)).toBe(false);
  });
});
