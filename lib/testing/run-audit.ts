/**
 * Post-run audit of an `ETCD3R_RUN_DIR`: finds etcd processes that are still
 * alive and data dirs that were not removed, cleans them up, and reports them.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { DATA_SUBDIR, PID_SUBDIR, isPidRunning, type PidRecord } from './process-registry';

/** Command line of `pid` from /proc, or undefined (process gone or no /proc). */
function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return undefined;
  }
}

/** True when `pid` is running and (where /proc exists) still the process we started. */
function isOurProcess(record: PidRecord): boolean {
  if (!isPidRunning(record.pid)) return false;
  const cmd = cmdline(record.pid);
  // A recycled pid belongs to someone else: only claim it if it runs on our data dir.
  return cmd === undefined ? existsSync('/proc') === false : cmd.includes(record.dataDir);
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isPidRunning(pid)) return true;
    await new Promise(resolve => setTimeout(resolve, 20));
  }
  return !isPidRunning(pid);
}

/**
 * Kills every recorded etcd process of `runDir` that is still alive and removes
 * every data dir left under it. Resolves to one line per leftover found (empty
 * when the run was clean).
 */
export async function auditRunDir(runDir: string): Promise<string[]> {
  const problems: string[] = [];
  const pidDir = path.join(runDir, PID_SUBDIR);
  const files = existsSync(pidDir) ? readdirSync(pidDir).filter(f => f.endsWith('.json')) : [];
  for (const file of files) {
    let record: PidRecord;
    try {
      record = JSON.parse(readFileSync(path.join(pidDir, file), 'utf8'));
    } catch {
      continue;
    }
    if (!isOurProcess(record)) continue;
    try {
      process.kill(record.pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
    const gone = await waitGone(record.pid, 5000);
    problems.push(
      `etcd pid ${record.pid} (member ${record.name}, data dir ${record.dataDir}) ` +
        'was still running' +
        (gone ? '; killed' : '; could not kill it'),
    );
  }
  const dataDir = path.join(runDir, DATA_SUBDIR);
  for (const entry of existsSync(dataDir) ? readdirSync(dataDir) : []) {
    const dir = path.join(dataDir, entry);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    problems.push(`data dir ${dir} was not removed; removed it`);
  }
  return problems;
}
