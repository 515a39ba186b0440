/**
 * Bookkeeping that guarantees no etcd process or data dir outlives the test
 * process: every child pid and data dir is tracked here, a synchronous
 * `process.on('exit')` hook (and SIGTERM/SIGINT/SIGHUP handlers) kill and
 * remove what is left, and (when
 * `ETCD3R_RUN_DIR` is set) a pid file per started process lets the vitest global
 * teardown verify afterwards.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Environment variable naming the per-run scratch directory (set by the global setup). */
export const RUN_DIR_ENV = 'ETCD3R_RUN_DIR';

/** Sub-directory of the run dir that holds one `<pid>.json` per started process. */
export const PID_SUBDIR = 'pids';
/** Sub-directory of the run dir that holds every member's data dir. */
export const DATA_SUBDIR = 'data';

/** Contents of a pid file. */
export interface PidRecord {
  pid: number;
  /** The Node process that started it (a test worker); its exit triggers the hooks. */
  ownerPid: number;
  /** Data dir of the etcd member; its path is part of the command line. */
  dataDir: string;
  name: string;
  startedAt: string;
}

const livePids = new Set<number>();
const liveDataDirs = new Set<string>();
let hookInstalled = false;

/** Synchronously SIGKILLs every tracked child and removes every tracked data dir. */
function killAllSync(): void {
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of liveDataDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // best effort: the global teardown audit reports what is left
    }
  }
}

/** Signals that end a process by default and that test runners send to their workers. */
const TERMINATING_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

function onSignal(signal: NodeJS.Signals): void {
  killAllSync();
  // If nobody else listens, do what the signal would have done without us: terminate.
  if (process.listenerCount(signal) === 1) {
    for (const s of TERMINATING_SIGNALS) process.removeListener(s, onSignal);
    process.kill(process.pid, signal);
  }
}

/**
 * Installs, once, an `exit` hook and handlers for SIGTERM/SIGINT/SIGHUP that kill
 * what is left. vitest ends its fork workers with SIGTERM, which skips `exit`
 * hooks; the handler re-raises the signal when it is the only listener, so the
 * default behaviour (terminate) is unchanged.
 */
function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.on('exit', killAllSync);
  for (const s of TERMINATING_SIGNALS) process.on(s, onSignal);
}

/** The run dir from `ETCD3R_RUN_DIR`, or undefined. */
export function runDir(): string | undefined {
  return process.env[RUN_DIR_ENV] || undefined;
}

/**
 * Creates a fresh, empty data dir for one member: under `$ETCD3R_RUN_DIR/data`
 * when set, else under `os.tmpdir()`. It is tracked until {@link removeDataDir}.
 */
export function makeDataDir(label: string): string {
  const run = runDir();
  const parent = run ? path.join(run, DATA_SUBDIR) : os.tmpdir();
  mkdirSync(parent, { recursive: true });
  // The owner's pid in the name lets the audit wait for that process to finish exiting.
  const dir = mkdtempSync(path.join(parent, `etcd3r-${process.pid}-${label}-`));
  installExitHook();
  liveDataDirs.add(dir);
  return dir;
}

/** Removes a data dir (recursive, retried briefly) and stops tracking it. */
export function removeDataDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  liveDataDirs.delete(dir);
}

/** Records a started child: tracked for the exit hook, and a pid file when a run dir is set. */
export function trackPid(record: Omit<PidRecord, 'ownerPid'>): void {
  installExitHook();
  livePids.add(record.pid);
  const run = runDir();
  if (run) {
    const dir = path.join(run, PID_SUBDIR);
    mkdirSync(dir, { recursive: true });
    const full: PidRecord = { ...record, ownerPid: process.pid };
    writeFileSync(path.join(dir, `${record.pid}.json`), JSON.stringify(full));
  }
}

/** Called once the child has exited. The pid file stays, so the teardown can audit it. */
export function untrackPid(pid: number): void {
  livePids.delete(pid);
}

/** Pids this process started that have not exited yet (for tests of the infra). */
export function trackedPids(): number[] {
  return [...livePids];
}

/** Data dirs this process created that have not been removed yet. */
export function trackedDataDirs(): string[] {
  return [...liveDataDirs];
}

/** True when a process with this pid exists (zombies included). */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * True when the process exists and is not a zombie. An orphan killed by someone
 * else stays a zombie until its new parent reaps it; it holds no ports or files.
 */
export function isPidRunning(pid: number): boolean {
  if (!isPidAlive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    // No /proc (not Linux): trust kill(0). With /proc, a vanished entry means gone.
    return !existsSync('/proc/self');
  }
}
