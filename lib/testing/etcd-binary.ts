/**
 * Locating (and, on a root Debian/Ubuntu box, installing) the etcd and etcdctl
 * binaries, checking that a binary really is etcd, and running etcdctl.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import * as path from 'node:path';
import { EtcdNotFoundError, EtcdStartError } from './errors';

/** How to get etcd, quoted in every {@link EtcdNotFoundError}. */
export const ETCD_INSTALL_HINT =
  'Install etcd (Debian/Ubuntu: `sudo apt-get install -y etcd-server etcd-client`) ' +
  'or set ETCD_BIN to the path of an etcd binary (and ETCDCTL_BIN for etcdctl).';

/** Upper bound for one `apt-get` run, in ms. */
const APT_TIMEOUT_MS = 300_000;

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

/** Installs Debian packages non-interactively; false when not root, no apt-get or it failed. */
function aptInstall(packages: string[]): boolean {
  const apt = whichSync('apt-get');
  if (!apt || typeof process.getuid !== 'function' || process.getuid() !== 0) return false;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args: string[]): boolean => {
    try {
      execFileSync(apt, args, { env, stdio: 'ignore', timeout: APT_TIMEOUT_MS });
      return true;
    } catch {
      return false;
    }
  };
  const install = ['install', '-y', '--no-install-recommends', ...packages];
  // A fresh machine may have no package lists yet: update once and try again.
  return run(install) || (run(['update']) && run(install));
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
  let found = whichSync(name);
  if (!found && name === 'etcdctl') {
    // etcdctl usually sits next to etcd (release tarballs, ETCD_BIN=/opt/etcd/etcd).
    try {
      const sibling = path.join(path.dirname(findEtcdBinary()), 'etcdctl');
      if (isExecutableFile(sibling)) found = sibling;
    } catch {
      // fall through to apt / error
    }
  }
  if (!found && aptInstall([aptPackage])) found = whichSync(name);
  if (!found) {
    throw new EtcdNotFoundError(
      `No ${name} binary found (${envVar} unset, none on PATH). ${ETCD_INSTALL_HINT}`,
    );
  }
  cache.set(key, found);
  return found;
}

/**
 * Path of the etcd server binary: `ETCD_BIN` if set, else `etcd` on `PATH`. If
 * neither exists and the process runs as root where `apt-get` is available, it
 * installs the `etcd-server` package (non-interactive) and looks again. The
 * result is cached per (ETCD_BIN, PATH).
 *
 * @throws EtcdNotFoundError with install instructions when no binary can be found.
 */
export function findEtcdBinary(): string {
  return locate('etcd', 'ETCD_BIN', 'etcd-server');
}

/**
 * Path of etcdctl: `ETCDCTL_BIN`, else `etcdctl` on `PATH`, else next to the etcd
 * binary, else (root + apt-get) installs `etcd-client`.
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
