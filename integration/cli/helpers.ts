/**
 * Runs the CLI as a child process: from source through tsx (`cli`), or through the
 * published launcher bin/etcd3-resilient.js, which needs `npm run build` (`bin`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

/** Result of one CLI run. */
export interface CliResult {
  /** Exit code; -1 if it had to be killed at the time bound. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A running CLI process whose output can be awaited line by line. */
export interface CliProcess {
  readonly child: ChildProcess;
  /** Output so far. */
  stdout(): string;
  /** Resolves once stdout contains `text`; rejects after `timeoutMs`. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  /** Resolves with the result when it exits; SIGKILLs it after `timeoutMs`. */
  exited(timeoutMs?: number): Promise<CliResult>;
}

/** Starts the CLI from source (`node --import tsx lib/cli/main.ts ...args`). */
export function startCli(
  args: string[],
  env: Record<string, string> = {},
  viaBin = false,
): CliProcess {
  const entry = viaBin ? ['bin/etcd3-resilient.js'] : ['--import', 'tsx', 'lib/cli/main.ts'];
  const child = spawn(process.execPath, [...entry, ...args], {
    cwd: ROOT,
    env: { ...process.env, ETCD_ENDPOINTS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', d => (out += d));
  child.stderr!.setEncoding('utf8').on('data', d => (err += d));
  const exit = new Promise<number>(resolve => child.once('close', code => resolve(code ?? -1)));
  return {
    child,
    stdout: () => out,
    async waitFor(text, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!out.includes(text)) {
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(
            `CLI output never contained ${JSON.stringify(text)}; stdout:\n${out}\nstderr:\n${err}`,
          );
        }
        await new Promise(resolve => setTimeout(resolve, 50));
      }
    },
    async exited(timeoutMs = 60_000) {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exit;
      clearTimeout(timer);
      return { code, stdout: out, stderr: err };
    },
  };
}

/** Runs the CLI to completion (bounded by `timeoutMs`). */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<CliResult> {
  return startCli(args, env).exited(timeoutMs);
}

/** The line of `stdout` for check `name`, e.g. `[FAIL] reachable ...`, plus its FIX line if any. */
export function checkLines(stdout: string, endpoint: string, name: string): string {
  const block = stdout.split(/\n\n/).find(b => b.startsWith(endpoint)) ?? '';
  const lines = block.split('\n');
  const i = lines.findIndex(l => new RegExp(`^  \\[[A-Z]+\\] ${name}\\b`).test(l));
  if (i === -1) return '';
  return lines[i + 1]?.includes('FIX:') ? `${lines[i]}\n${lines[i + 1]}` : lines[i]!;
}
