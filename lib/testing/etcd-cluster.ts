/**
 * `startEtcd()`: a real etcd cluster (1..7 members) on 127.0.0.1 free ports,
 * each member with its own temporary data dir, torn down by `stop()`.
 */
import { randomBytes } from 'node:crypto';
import { InvalidOptionError } from '../errors';
import { readKnownOptions } from '../policy/read-options';
import { describeValue } from '../validate';
import { findEtcdBinary, verifyEtcdBinary } from './etcd-binary';
import { memberStatus, type EtcdTlsOptions } from './etcd-http';
import { EtcdMemberProcess, type EtcdMember } from './etcd-member';
import { EtcdStartError } from './errors';
import { freePorts, isPortFree } from './ports';
import { makeDataDir, removeDataDir } from './process-registry';

/** Options of {@link startEtcd}. */
export interface StartEtcdOptions {
  /** Number of members, an integer 1..7. Defaults to 1. */
  members?: number;
  /** etcd binary. Defaults to {@link findEtcdBinary} (ETCD_BIN, then PATH). */
  etcdBin?: string;
  /** How long to wait until every member answers its health check, in ms. Defaults to 20000. */
  startTimeoutMs?: number;
  /**
   * Extra etcd flags appended after the generated ones (so they win), e.g.
   * `['--auth-token-ttl=5']`, or a function returning per-member flags (TLS files...).
   */
  extraArgs?: string[] | ((member: { name: string; index: number; dataDir: string }) => string[]);
  /**
   * Client URL scheme. Defaults to `'http'`. With `'https'` pass the server cert flags
   * (`--cert-file`, `--key-file`, ...) in `extraArgs`, and `tls` or `healthCheck`.
   */
  scheme?: 'http' | 'https';
  /** TLS material for the default health check and {@link EtcdCluster.leader} over https. */
  tls?: EtcdTlsOptions;
  /** Health check. Defaults to `GET <clientUrl>/health` answering `{"health":"true"}`. */
  healthCheck?: (member: EtcdMember) => Promise<boolean>;
  /** etcd `--log-level`. Defaults to `'error'`. */
  logLevel?: string;
  /**
   * Fixed client ports, one per member. Defaults to free ports picked at random. A
   * port that is in use fails the start with a clear {@link EtcdStartError}.
   */
  clientPorts?: number[];
  /** Fixed peer ports, one per member; as `clientPorts`. */
  peerPorts?: number[];
}

/** A running test cluster; see {@link startEtcd}. */
export interface EtcdCluster {
  /** Client URLs of all members, e.g. `['http://127.0.0.1:40123']`. */
  readonly endpoints: string[];
  readonly members: EtcdMember[];
  /** Member `i`; throws {@link InvalidOptionError} when out of range. */
  member(i: number): EtcdMember;
  /**
   * The current leader among running members, asked via `/v3/maintenance/status`.
   * Polls until one is known. @param timeoutMs defaults to 10000.
   */
  leader(timeoutMs?: number): Promise<EtcdMember>;
  /** SIGKILLs every member and removes every data dir. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Attempts when a randomly picked port was taken between picking and binding. */
const BIND_ATTEMPTS = 3;

/** Every key of {@link StartEtcdOptions} (others are rejected with a "did you mean"). */
export const START_ETCD_KEYS = [
  'members',
  'etcdBin',
  'startTimeoutMs',
  'extraArgs',
  'scheme',
  'tls',
  'healthCheck',
  'logLevel',
  'clientPorts',
  'peerPorts',
] as const;

/**
 * A plain copy of `input` (each field read once, typos rejected), checked field by
 * field. Throws `InvalidOptionError` before any port is probed or process spawned.
 */
function validate(input: StartEtcdOptions): { options: StartEtcdOptions; n: number } {
  const options = readKnownOptions(input, START_ETCD_KEYS, 'options', '') as StartEtcdOptions;
  const n = options.members ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 7) {
    throw new InvalidOptionError(
      'members',
      `must be an integer from 1 to 7, got ${describeValue(n)}`,
    );
  }
  const t = options.startTimeoutMs;
  if (t !== undefined && !(typeof t === 'number' && Number.isFinite(t) && t > 0)) {
    throw new InvalidOptionError(
      'startTimeoutMs',
      `must be a positive number of ms, got ${describeValue(t)}`,
    );
  }
  if (options.scheme !== undefined && options.scheme !== 'http' && options.scheme !== 'https') {
    throw new InvalidOptionError(
      'scheme',
      `must be 'http' or 'https', got ${describeValue(options.scheme)}`,
    );
  }
  for (const key of ['etcdBin', 'logLevel'] as const) {
    const v = options[key];
    if (v !== undefined && (typeof v !== 'string' || v.length === 0 || v.includes('\0'))) {
      throw new InvalidOptionError(key, `must be a non-empty string, got ${describeValue(v)}`);
    }
  }
  const extra = options.extraArgs;
  if (
    extra !== undefined &&
    typeof extra !== 'function' &&
    !(Array.isArray(extra) && extra.every(a => typeof a === 'string' && !a.includes('\0')))
  ) {
    throw new InvalidOptionError('extraArgs', 'must be an array of strings or a function');
  }
  if (options.healthCheck !== undefined && typeof options.healthCheck !== 'function') {
    throw new InvalidOptionError('healthCheck', 'must be a function');
  }
  if (options.tls !== undefined) {
    const tls = readKnownOptions(options.tls, ['ca', 'cert', 'key'], 'tls', 'tls.');
    for (const [k, v] of Object.entries(tls)) {
      if (v !== undefined && typeof v !== 'string' && !Buffer.isBuffer(v)) {
        throw new InvalidOptionError(`tls.${k}`, 'must be a string or a Buffer');
      }
    }
  }
  for (const key of ['clientPorts', 'peerPorts'] as const) {
    const ports = options[key];
    if (ports === undefined) continue;
    if (
      !Array.isArray(ports) ||
      ports.length !== n ||
      !ports.every(p => Number.isInteger(p) && p > 0 && p < 65536)
    ) {
      throw new InvalidOptionError(
        key,
        `must list ${n} port number(s) from 1 to 65535, got ${describeValue(ports)}`,
      );
    }
  }
  return { options, n };
}

async function assertPortsFree(ports: number[] | undefined, option: string): Promise<void> {
  for (const port of ports ?? []) {
    if (!(await isPortFree(port))) {
      throw new EtcdStartError(`${option}: port ${port} on 127.0.0.1 is already in use`);
    }
  }
}

class Cluster implements EtcdCluster {
  private stopping: Promise<void> | undefined;

  constructor(
    public readonly members: EtcdMemberProcess[],
    private readonly tls: EtcdTlsOptions | undefined,
  ) {}

  get endpoints(): string[] {
    return this.members.map(m => m.clientUrl);
  }

  member(i: number): EtcdMember {
    const m = this.members[i];
    if (!m) {
      const last = this.members.length - 1;
      throw new InvalidOptionError('member', `index ${i} out of range 0..${last}`);
    }
    return m;
  }

  async leader(timeoutMs = 10_000): Promise<EtcdMember> {
    const deadline = Date.now() + timeoutMs;
    do {
      const running = this.members.filter(m => m.running);
      const statuses = await Promise.all(
        running.map(m =>
          memberStatus(m.clientUrl, this.tls).then(
            s => ({ m, s }),
            () => undefined,
          ),
        ),
      );
      const byId = new Map(statuses.flatMap(x => (x ? [[x.s.memberId, x.m] as const] : [])));
      for (const x of statuses) {
        const leader = x && byId.get(x.s.leaderId);
        if (leader) return leader;
      }
      await new Promise(resolve => setTimeout(resolve, 100));
    } while (Date.now() < deadline);
    throw new EtcdStartError(`no leader among running members within ${timeoutMs} ms`);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all(this.members.map(m => m.kill('SIGKILL')));
      for (const m of this.members) removeDataDir(m.dataDir);
    })();
    return this.stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/**
 * Starts a real etcd cluster on 127.0.0.1 and waits until every member is healthy.
 * Data dirs go under `$ETCD3R_RUN_DIR` (set by the integration global setup) or
 * `os.tmpdir()`. Every process is killed when this Node process exits, even if
 * `stop()` is never called.
 *
 * @throws InvalidOptionError for bad options (e.g. `members: 0`).
 * @throws EtcdNotFoundError when no etcd binary exists.
 * @throws EtcdStartError when the binary is not etcd, a given port is in use, or a
 *   member is not healthy within `startTimeoutMs` (message includes etcd's stderr tail).
 * @example
 * await using cluster = await startEtcd({ members: 3 });
 * const client = new Etcd3({ hosts: cluster.endpoints });
 */
export async function startEtcd(input: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const { options, n } = validate(input);
  const etcdBin = options.etcdBin ?? findEtcdBinary();
  await verifyEtcdBinary(etcdBin);
  await assertPortsFree(options.clientPorts, 'clientPorts');
  await assertPortsFree(options.peerPorts, 'peerPorts');
  const fixedPorts = options.clientPorts !== undefined || options.peerPorts !== undefined;

  for (let attempt = 1; ; attempt++) {
    const picked = await freePorts(2 * n);
    const clientPorts = options.clientPorts ?? picked.slice(0, n);
    const peerPorts = options.peerPorts ?? picked.slice(n);
    const members = createMembers(n, etcdBin, clientPorts, peerPorts, options);
    const cluster = new Cluster(members, options.tls);
    try {
      for (const m of members) m.start();
      await Promise.all(members.map(m => m.waitHealthy()));
      return cluster;
    } catch (err) {
      await cluster.stop();
      const raced = members.some(m => m.bindFailed);
      if (raced && !fixedPorts && attempt < BIND_ATTEMPTS) continue;
      if (raced && err instanceof EtcdStartError) {
        const ports = [...clientPorts, ...peerPorts].join(', ');
        throw new EtcdStartError(
          `etcd could not bind its ports (${ports}): address already in use`,
          err.stderrTail,
          { cause: err },
        );
      }
      throw err;
    }
  }
}

function createMembers(
  n: number,
  etcdBin: string,
  clientPorts: number[],
  peerPorts: number[],
  options: StartEtcdOptions,
): EtcdMemberProcess[] {
  const scheme = options.scheme ?? 'http';
  const token = `etcd3r-${process.pid}-${randomBytes(4).toString('hex')}`;
  const names = Array.from({ length: n }, (_, i) => `m${i}`);
  const initialCluster = names
    .map((name, i) => `${name}=http://127.0.0.1:${peerPorts[i]}`)
    .join(',');
  return names.map((name, index) => {
    const dataDir = makeDataDir(name);
    const clientUrl = `${scheme}://127.0.0.1:${clientPorts[index]}`;
    const peerUrl = `http://127.0.0.1:${peerPorts[index]}`;
    const extra =
      typeof options.extraArgs === 'function'
        ? options.extraArgs({ name, index, dataDir })
        : (options.extraArgs ?? []);
    const args = [
      `--name=${name}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      '--initial-cluster-state=new',
      `--initial-cluster-token=${token}`,
      '--logger=zap',
      '--log-outputs=stderr',
      `--log-level=${options.logLevel ?? 'error'}`,
      ...extra,
    ];
    return new EtcdMemberProcess({
      name,
      index,
      etcdBin,
      scheme,
      clientPort: clientPorts[index]!,
      peerPort: peerPorts[index]!,
      dataDir,
      args,
      startTimeoutMs: options.startTimeoutMs ?? 20_000,
      healthCheck: options.healthCheck,
      tls: options.tls,
    });
  });
}
