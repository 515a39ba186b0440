/**
 * Locating the etcd and etcdctl binaries, checking that a binary really is etcd,
 * and running etcdctl. This library never installs software: installing etcd is
 * the job of the machine's setup (the project's own `scripts/ensure-etcd.sh`).
 */
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import * as path from 'node:path';
import { EtcdNotFoundError, EtcdStartError } from './errors';

/** How to get etcd, quoted in every {@link EtcdNotFoundError}. */
export const ETCD_INSTALL_HINT =
  'Install etcd (Debian/Ubuntu: `sudo apt-get install -y etcd-server etcd-client`; ' +
  'elsewhere a release from https://github.com/etcd-io/etcd/releases) ' +
  'or set ETCD_BIN to the path of an etcd binary (and ETCDCTL_BIN for etcdctl).';

/**
 * Directories searched after `PATH`: where packages and release tarballs put
 * etcd (Debian's etcd-server, Homebrew, the release tarball's usual home).
 */
export const WELL_KNOWN_ETCD_DIRS: readonly string[] = [
  '/usr/bin',
  '/usr/local/bin',
  '/opt/homebrew/bin',
  '/opt/etcd',
  '/usr/local/etcd',
];

const cache = new Map<string, string>();
const verified = new Map<string, Promise<string>>();

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** First executable called `name` on `PATH`, or undefined. */
export function whichSync(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function inWellKnownDirs(name: string): string | undefined {
  for (const dir of WELL_KNOWN_ETCD_DIRS) {
    const candidate = path.join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function locate(name: 'etcd' | 'etcdctl', envVar: string, aptPackage: string): string {
  // Keyed by the inputs, so changing ETCD_BIN or PATH (e.g. in a test) is honoured.
  const key = `${name}\0${process.env[envVar] ?? ''}\0${process.env.PATH ?? ''}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const fromEnv = process.env[envVar];
  if (fromEnv) {
    if (!isExecutableFile(fromEnv)) {
      throw new EtcdNotFoundError(
        `${envVar}=${fromEnv} is not an executable file. ${ETCD_INSTALL_HINT}`,
      );
    }
    cache.set(key, fromEnv);
    return fromEnv;
  }
  let found = whichSync(name) ?? inWellKnownDirs(name);
  if (!found && name === 'etcdctl') {
    // etcdctl usually sits next to etcd (release tarballs, ETCD_BIN=/opt/etcd/etcd).
    try {
      const sibling = path.join(path.dirname(findEtcdBinary()), 'etcdctl');
      if (isExecutableFile(sibling)) found = sibling;
    } catch {
      // fall through to the error
    }
  }
  if (!found) {
    throw new EtcdNotFoundError(
      `No ${name} binary found (${envVar} unset, none on PATH or in ${WELL_KNOWN_ETCD_DIRS.join(', ')}; ` +
        `Debian package: ${aptPackage}). ${ETCD_INSTALL_HINT}`,
    );
  }
  cache.set(key, found);
  return found;
}

/**
 * Path of the etcd server binary: `ETCD_BIN` if set, else `etcd` on `PATH`, else
 * in {@link WELL_KNOWN_ETCD_DIRS} (e.g. `/usr/bin/etcd`). Never installs anything.
 * The result is cached per (ETCD_BIN, PATH).
 *
 * @throws EtcdNotFoundError with install instructions when no binary can be found.
 */
export function findEtcdBinary(): string {
  return locate('etcd', 'ETCD_BIN', 'etcd-server');
}

/**
 * Path of etcdctl: `ETCDCTL_BIN`, else `etcdctl` on `PATH` or in
 * {@link WELL_KNOWN_ETCD_DIRS}, else next to the etcd binary. Never installs anything.
 *
 * @throws EtcdNotFoundError when none can be found.
 */
export function findEtcdctlBinary(): string {
  return locate('etcdctl', 'ETCDCTL_BIN', 'etcd-client');
}

/**
 * Resolves to the version line of `bin --version` when its output contains
 * "etcd Version"; rejects with {@link EtcdStartError} otherwise. Cached per path.
 * Timeout 10 s.
 */
export function verifyEtcdBinary(bin: string): Promise<string> {
  let p = verified.get(bin);
  if (!p) {
    p = new Promise<string>((resolve, reject) => {
      execFile(bin, ['--version'], { timeout: 10_000 }, (err, stdout, stderr) => {
        const out = `${stdout ?? ''}${stderr ?? ''}`;
        const line = out.split('\n').find(l => l.includes('etcd Version'));
        if (line) return resolve(line.trim());
        reject(
          new EtcdStartError(
            `${bin} is not an etcd binary: \`${bin} --version\` did not print "etcd Version"` +
              (err ? ` (${err.message.split('\n')[0]})` : '') +
              `. ${ETCD_INSTALL_HINT}`,
            out.trim().slice(-2000),
          ),
        );
      });
    });
    verified.set(bin, p);
    p.catch(() => verified.delete(bin));
  }
  return p;
}

/** Result of {@link etcdctl}. */
export interface EtcdctlResult {
  stdout: string;
  stderr: string;
  /** Exit code; -1 when the process was killed by a signal or timed out. */
  code: number;
}

/**
 * Runs `etcdctl --endpoints=<endpoints> ...args` with `ETCDCTL_API=3`. Never
 * throws for a non-zero exit: inspect `code` and `stderr`.
 *
 * @param endpoints one URL or a list (joined with commas).
 * @param opts.env extra environment variables (e.g. `ETCDCTL_CACERT`).
 * @param opts.timeoutMs kill etcdctl after this many ms. Defaults to 15000; on
 *   timeout `code` is -1 and `stderr` says so.
 * @example
 * const { stdout } = await etcdctl(cluster.endpoints, ['get', 'k', '--print-value-only']);
 */
export function etcdctl(
  endpoints: string[] | string,
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<EtcdctlResult> {
  const bin = findEtcdctlBinary();
  const list = Array.isArray(endpoints) ? endpoints.join(',') : endpoints;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [`--endpoints=${list}`, ...args], {
      env: { ...process.env, ETCDCTL_API: '3', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', d => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', d => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    timer.unref();
    child.once('error', err => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', code => {
      clearTimeout(timer);
      if (timedOut) stderr += `\netcdctl timed out after ${timeoutMs} ms`;
      resolve({ stdout, stderr, code: timedOut || code === null ? -1 : code });
    });
  });
}
