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
  // (An empty command line means it is already exiting after a SIGKILL.)
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

/** Pid of the process that created a data dir named `etcd3r-<ownerPid>-<member>-XXXXXX`. */
function dataDirOwner(name: string): number | undefined {
  const m = /^etcd3r-(\d+)-/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Kills every recorded etcd process of `runDir` that is still alive and removes
 * every data dir left under it. Resolves to one line per leftover found (empty
 * when the run was clean).
 *
 * It first waits up to `ownerGraceMs` (default 5000) for the processes that started
 * them (test workers) to exit, since their exit and signal hooks clean up: a
 * runner may call its global teardown while workers are still shutting down.
 */
export async function auditRunDir(runDir: string, ownerGraceMs = 5000): Promise<string[]> {
  const problems: string[] = [];
  const pidDir = path.join(runDir, PID_SUBDIR);
  const dataDir = path.join(runDir, DATA_SUBDIR);
  const records: PidRecord[] = [];
  for (const file of existsSync(pidDir) ? readdirSync(pidDir) : []) {
    if (!file.endsWith('.json')) continue;
    try {
      records.push(JSON.parse(readFileSync(path.join(pidDir, file), 'utf8')));
    } catch {
      // a torn write: its process, if any, shows up as a data dir below
    }
  }
  const owners = new Set<number>();
  for (const r of records) if (r.ownerPid) owners.add(r.ownerPid);
  for (const entry of existsSync(dataDir) ? readdirSync(dataDir) : []) {
    const owner = dataDirOwner(entry);
    if (owner) owners.add(owner);
  }
  owners.delete(process.pid);
  const deadline = Date.now() + ownerGraceMs;
  for (const owner of owners) await waitGone(owner, Math.max(0, deadline - Date.now()));

  // A SIGKILL sent by an exiting owner takes a moment to finish the process.
  const graceDeadline = Date.now() + 1000;
  for (const record of records) {
    if (isOurProcess(record)) await waitGone(record.pid, Math.max(0, graceDeadline - Date.now()));
    if (!isOurProcess(record)) continue;
    try {
      process.kill(record.pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
    const gone = await waitGone(record.pid, 10_000);
    problems.push(
      `etcd pid ${record.pid} (member ${record.name}, data dir ${record.dataDir}) ` +
        'was still running' +
        (gone ? '; killed' : '; could not kill it'),
    );
  }
  for (const entry of existsSync(dataDir) ? readdirSync(dataDir) : []) {
    const dir = path.join(dataDir, entry);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    problems.push(`data dir ${dir} was not removed; removed it`);
  }
  return problems;
}
