/**
 * Nothing outlives a test run: the exit hook kills forgotten clusters, the run-dir
 * audit finds and kills what a crashed worker left behind, and the vitest global
 * setup/teardown fails the run when that happens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, inject, test } from 'vitest';
import setup from '../global-setup';
import { auditRunDir, isPidRunning, RUN_DIR_ENV } from '../../lib/testing';
import { expectNothingLeft } from './helpers';

afterAll(() => expectNothingLeft());

/** Polls `cond` every 10 ms for at most `ms`; resolves to its final value. */
async function eventually(cond: () => boolean, ms = 2000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise(r => setTimeout(r, 10));
  return cond();
}

const FIXTURE = path.join(__dirname, 'fixtures', 'leave-etcd-running.ts');

interface FixtureRun {
  pid: number;
  dataDir: string;
  child: ChildProcess;
  /** Resolves when the fixture process has exited. */
  exited: Promise<{ code: number | null; signal: string | null }>;
}

/** Starts the fixture in a child Node process; resolves once it printed its etcd's pid. */
function startFixture(
  mode: 'natural' | 'crash' | 'linger',
  env = process.env,
): Promise<FixtureRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, mode], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const exited = new Promise<{ code: number | null; signal: string | null }>(done =>
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        done({ code, signal });
        reject(new Error(`fixture exited (code ${code}) before printing its pid: ${err}`));
      }),
    );
    child.on('error', reject);
    child.stderr.on('data', d => (err += d));
    child.stdout.on('data', d => {
      out += d;
      const line = out.split('\n').find(l => l.startsWith('{') && l.endsWith('}'));
      if (line) resolve({ ...JSON.parse(line), child, exited });
    });
  });
}

/** Runs the fixture to completion. */
async function runFixture(mode: 'natural' | 'crash', env = process.env) {
  const run = await startFixture(mode, env);
  return { ...run, ...(await run.exited) };
}

describe('cleanup guarantees', () => {
  test('the global setup exported a run dir to this worker', () => {
    const runDir = process.env[RUN_DIR_ENV];
    expect(runDir).toMatch(new RegExp(`^${os.tmpdir()}/etcd3-resilient-\\d+-`));
    expect(inject('etcd3rRunDir')).toBe(runDir);
    expect(existsSync(runDir!)).toBe(true);
  });

  test('a process that forgets stop() still exits by itself, and its exit hook kills etcd', async () => {
    const r = await runFixture('natural');
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
    expect(await eventually(() => !isPidRunning(r.pid))).toBe(true);
    expect(existsSync(r.dataDir)).toBe(false);
  });

  test('SIGTERM to a process with a running cluster kills etcd and still terminates it', async () => {
    const run = await startFixture('linger');
    expect(isPidRunning(run.pid)).toBe(true);
    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: null, signal: 'SIGTERM' });
    // The handler sent SIGKILL just before its process ended; the kernel finishes it.
    expect(await eventually(() => !isPidRunning(run.pid))).toBe(true);
    expect(existsSync(run.dataDir)).toBe(false);
  });

  test('auditRunDir waits for a worker that is still shutting down instead of blaming it', async () => {
    const runDir = mkdtempSync(path.join(os.tmpdir(), 'etcd3r-audit-'));
    try {
      const run = await startFixture('linger', { ...process.env, [RUN_DIR_ENV]: runDir });
      run.child.kill('SIGTERM');
      // Called at once, as vitest calls the global teardown while workers exit.
      expect(await auditRunDir(runDir)).toEqual([]);
      // Already SIGKILLed by the worker's handler; tearing down its memory can take a moment.
      expect(await eventually(() => !isPidRunning(run.pid), 10_000)).toBe(true);
      expect(existsSync(run.dataDir)).toBe(false);
      await run.exited;
    } finally {
      rmSync(runDir, { recursive: true, force: true });
    }
  });

  test('auditRunDir kills the etcd of a crashed (SIGKILLed) process and removes its data dir', async () => {
    const runDir = mkdtempSync(path.join(os.tmpdir(), 'etcd3r-audit-'));
    try {
      const r = await runFixture('crash', { ...process.env, [RUN_DIR_ENV]: runDir });
      expect(r.signal).toBe('SIGKILL');
      expect(isPidRunning(r.pid)).toBe(true); // orphaned, still serving
      expect(r.dataDir.startsWith(path.join(runDir, 'data'))).toBe(true);

      const problems = await auditRunDir(runDir);
      expect(problems).toHaveLength(2);
      expect(problems[0]).toContain(
        `etcd pid ${r.pid} (member m0, data dir ${r.dataDir}) was still running; killed`,
      );
      expect(problems[1]).toContain(`data dir ${r.dataDir} was not removed`);
      expect(isPidRunning(r.pid)).toBe(false);
      expect(existsSync(r.dataDir)).toBe(false);

      expect(await auditRunDir(runDir)).toEqual([]); // clean now
    } finally {
      rmSync(runDir, { recursive: true, force: true });
    }
  });

  test('global teardown fails the run, naming leftovers; a clean run passes and removes its dir', async () => {
    const outer = process.env[RUN_DIR_ENV];
    const provided: Record<string, unknown> = {};
    const project = { provide: (k: string, v: unknown) => (provided[k] = v) } as never;
    try {
      // Clean run.
      const cleanTeardown = await setup(project);
      const cleanDir = process.env[RUN_DIR_ENV]!;
      expect(provided.etcd3rRunDir).toBe(cleanDir);
      expect(cleanDir).not.toBe(outer);
      await cleanTeardown();
      expect(existsSync(cleanDir)).toBe(false);
      expect(process.env[RUN_DIR_ENV]).toBe(outer);

      // A run whose worker crashed with etcd still running.
      const dirtyTeardown = await setup(project);
      const dirtyDir = process.env[RUN_DIR_ENV]!;
      const r = await runFixture('crash'); // inherits the new ETCD3R_RUN_DIR
      expect(readdirSync(path.join(dirtyDir, 'pids'))).toEqual([`${r.pid}.json`]);
      const savedExitCode = process.exitCode;
      const err = await dirtyTeardown().catch(e => e);
      // The teardown also marks the run as failed (vitest would otherwise exit 0).
      expect(process.exitCode).toBe(1);
      process.exitCode = savedExitCode;
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toContain('integration run left etcd resources behind');
      expect(err.message).toContain(`etcd pid ${r.pid}`);
      expect(err.message).toContain(r.dataDir);
      expect(isPidRunning(r.pid)).toBe(false);
      expect(existsSync(dirtyDir)).toBe(false);
    } finally {
      process.env[RUN_DIR_ENV] = outer;
    }
  });
});
