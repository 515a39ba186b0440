/**
 * Nothing outlives a test run: the exit hook kills forgotten clusters, the run-dir
 * audit finds and kills what a crashed worker left behind, and the vitest global
 * setup/teardown fails the run when that happens.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, inject, test } from 'vitest';
import setup from '../global-setup';
import { auditRunDir, isPidRunning, RUN_DIR_ENV } from '../../lib/testing';
import { expectNothingLeft } from './helpers';

afterAll(() => expectNothingLeft());

const FIXTURE = path.join(__dirname, 'fixtures', 'leave-etcd-running.ts');

/** Runs the fixture in a child Node process; resolves with what it printed and how it ended. */
function runFixture(mode: 'natural' | 'crash', env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ pid: number; dataDir: string; code: number | null; signal: string | null }>(
    (resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, mode], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', d => (out += d));
      child.stderr.on('data', d => (err += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const line = out.split('\n').find(l => l.startsWith('{'));
        if (!line) return reject(new Error(`fixture printed no pid (code ${code}): ${err}`));
        resolve({ ...JSON.parse(line), code, signal });
      });
    },
  );
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
    expect(isPidRunning(r.pid)).toBe(false);
    expect(existsSync(r.dataDir)).toBe(false);
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
      expect(problems[0]).toContain(`etcd pid ${r.pid} (member m0, data dir ${r.dataDir}) was still running; killed`);
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
      const err = await dirtyTeardown().catch(e => e);
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
