/**
 * One etcd process of a test cluster: spawn, health wait, kill/stop/restart,
 * freeze/thaw. The data dir and ports stay the same across restarts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { InvalidOptionError } from '../errors';
import { EtcdStartError } from './errors';
import { isHealthy, type EtcdTlsOptions } from './etcd-http';
import { trackPid, untrackPid } from './process-registry';
import { StderrRing } from './stderr-ring';

/** A handle on one etcd member process. */
export interface EtcdMember {
  /** Member name, `m0`, `m1`, ... */
  readonly name: string;
  /** Position in `cluster.members`. */
  readonly index: number;
  /** Pid of the running process; undefined while stopped. Changes on restart. */
  readonly pid: number | undefined;
  /** Client URL, e.g. `http://127.0.0.1:40123`. */
  readonly clientUrl: string;
  readonly clientPort: number;
  /** Peer URL, `http://127.0.0.1:<peerPort>`. */
  readonly peerUrl: string;
  readonly dataDir: string;
  /** True while the process exists (also while frozen). */
  readonly running: boolean;
  /**
   * Sends `signal` (default `SIGKILL`) and resolves once the process has exited.
   * A process that ignores a non-KILL signal for 10 s is SIGKILLed. No-op when not running.
   * Use {@link freeze} for SIGSTOP.
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Graceful stop: SIGTERM, wait for exit, SIGKILL after 5 s. No-op when not running. */
  stop(): Promise<void>;
  /**
   * Stops the process if running, starts it again with the same data dir, ports and
   * flags, and waits until it is healthy (the cluster's `startTimeoutMs`).
   */
  restart(): Promise<void>;
  /** SIGSTOP: the process stays alive and keeps its sockets but answers nothing. */
  freeze(): void;
  /** SIGCONT after {@link freeze}. */
  thaw(): void;
  /**
   * Resolves when the health check passes; rejects with {@link EtcdStartError}
   * (including the stderr tail) on timeout or if the process exits.
   * @param timeoutMs defaults to the cluster's `startTimeoutMs` (20000).
   */
  waitHealthy(timeoutMs?: number): Promise<void>;
}

/** Everything needed to (re)start one member. */
export interface MemberConfig {
  name: string;
  index: number;
  etcdBin: string;
  scheme: 'http' | 'https';
  clientPort: number;
  peerPort: number;
  dataDir: string;
  /** Full etcd argument list. */
  args: string[];
  startTimeoutMs: number;
  healthCheck?: (member: EtcdMember) => Promise<boolean>;
  tls?: EtcdTlsOptions;
}

const POLL_MS = 100;
const STOP_GRACE_MS = 5000;
const KILL_GRACE_MS = 10_000;

const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms));

/** @internal Implementation of {@link EtcdMember}; created by `startEtcd`. */
export class EtcdMemberProcess implements EtcdMember {
  /** Last lines of stderr across all starts of this member. */
  public readonly stderr = new StderrRing();
  /** Invariant: `child` is set iff the process was spawned and its 'exit' has not fired. */
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** Resolves when the current process's stderr pipe has closed (all output read). */
  private stderrDone: Promise<unknown> = Promise.resolve();
  private frozen = false;
  /** Operations currently awaiting the child; while > 0 the child keeps the event loop alive. */
  private holds = 0;

  constructor(private readonly cfg: MemberConfig) {}

  get name(): string {
    return this.cfg.name;
  }
  get index(): number {
    return this.cfg.index;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  get clientPort(): number {
    return this.cfg.clientPort;
  }
  get clientUrl(): string {
    return `${this.cfg.scheme}://127.0.0.1:${this.cfg.clientPort}`;
  }
  get peerUrl(): string {
    return `http://127.0.0.1:${this.cfg.peerPort}`;
  }
  get dataDir(): string {
    return this.cfg.dataDir;
  }
  get running(): boolean {
    return this.child !== undefined;
  }
  /** True when the last exit looked like a failure to bind a port. */
  get bindFailed(): boolean {
    return this.stderr.includes('address already in use');
  }

  /** Spawns the process (does not wait for health). */
  start(): void {
    if (this.child) return;
    this.stderr.mark(`--- starting ${this.cfg.name} ---`);
    const child = spawn(this.cfg.etcdBin, this.cfg.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    // Attached before anything can throw: an unhandled 'error' would crash the process.
    child.on('error', err => this.stderr.mark(`spawn error: ${err.message}`));
    if (child.pid === undefined) {
      throw new EtcdStartError(`could not spawn ${this.cfg.etcdBin}`, this.stderr.tail());
    }
    child.stderr!.on('data', d => this.stderr.push(d));
    this.stderrDone = new Promise(resolve => child.stderr!.once('close', resolve));
    this.exited = new Promise(resolve =>
      child.once('exit', (code, signal) => {
        untrackPid(child.pid!);
        this.stderr.mark(`--- ${this.cfg.name} exited (code ${code}, signal ${signal}) ---`);
        if (this.child === child) {
          this.child = undefined;
          this.frozen = false;
        }
        resolve();
      }),
    );
    this.child = child;
    trackPid({
      pid: child.pid,
      dataDir: this.cfg.dataDir,
      name: this.cfg.name,
      startedAt: new Date().toISOString(),
    });
    this.updateRef();
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (signal === 'SIGSTOP' || signal === 'SIGCONT' || signal === 'SIGTSTP') {
      throw new InvalidOptionError('signal', `use freeze()/thaw() instead of kill('${signal}')`);
    }
    await this.signalAndWait(signal, signal === 'SIGKILL' ? undefined : KILL_GRACE_MS);
  }

  stop(): Promise<void> {
    return this.signalAndWait('SIGTERM', STOP_GRACE_MS);
  }

  async restart(): Promise<void> {
    await this.stop();
    this.start();
    await this.waitHealthy();
  }

  freeze(): void {
    this.requireRunning('freeze').kill('SIGSTOP');
    this.frozen = true;
  }

  thaw(): void {
    this.requireRunning('thaw').kill('SIGCONT');
    this.frozen = false;
  }

  async waitHealthy(timeoutMs = this.cfg.startTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await this.hold(async () => {
      for (;;) {
        if (!this.child) {
          // 'exit' can come before the last stderr chunk: let the pipe drain (bounded).
          await Promise.race([this.stderrDone, sleep(500)]);
          throw new EtcdStartError(
            `etcd member ${this.name} exited before it became healthy`,
            this.stderr.tail(),
          );
        }
        const remaining = deadline - Date.now();
        if (remaining <= 0) break;
        if (await this.check(Math.min(1000, remaining))) return;
        await sleep(Math.max(0, Math.min(POLL_MS, deadline - Date.now())));
      }
      throw new EtcdStartError(
        `etcd member ${this.name} (${this.clientUrl}) was not healthy within ${timeoutMs} ms`,
        this.stderr.tail(),
      );
    });
  }

  private async check(timeoutMs: number): Promise<boolean> {
    if (this.cfg.healthCheck) {
      try {
        return await this.cfg.healthCheck(this);
      } catch {
        return false;
      }
    }
    return isHealthy(this.clientUrl, this.cfg.tls, timeoutMs);
  }

  private async signalAndWait(
    signal: NodeJS.Signals,
    escalateAfterMs: number | undefined,
  ): Promise<void> {
    const child = this.child;
    if (!child) return;
    await this.hold(async () => {
      child.kill(signal);
      // A stopped process only acts on SIGTERM & co once continued.
      if (this.frozen && signal !== 'SIGKILL') child.kill('SIGCONT');
      if (escalateAfterMs !== undefined) {
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          this.exited.then(() => false),
          new Promise<boolean>(resolve => {
            timer = setTimeout(() => resolve(true), escalateAfterMs);
          }),
        ]);
        clearTimeout(timer);
        if (timedOut) child.kill('SIGKILL');
      }
      await this.exited;
    });
  }

  private requireRunning(op: string): ChildProcess {
    if (!this.child) {
      throw new InvalidOptionError('member', `cannot ${op} ${this.name}: it is not running`);
    }
    return this.child;
  }

  /** Keeps the child referenced (so Node waits for it) while `fn` runs. */
  private async hold<T>(fn: () => Promise<T>): Promise<T> {
    this.holds++;
    this.updateRef();
    try {
      return await fn();
    } finally {
      this.holds--;
      this.updateRef();
    }
  }

  /** An idle, forgotten cluster must not keep the test process alive; the exit hook kills it. */
  private updateRef(): void {
    const child = this.child;
    if (!child) return;
    const stream = child.stderr as unknown as { ref?(): void; unref?(): void } | null;
    if (this.holds > 0) {
      child.ref();
      stream?.ref?.();
    } else {
      child.unref();
      stream?.unref?.();
    }
  }
}
