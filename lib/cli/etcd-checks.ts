/**
 * The gRPC-level checks of `doctor`, each against one endpoint with a client that
 * makes exactly one attempt per call (no retries, no breaker, its own connection).
 */
import { noop } from 'cockatiel';
import { Etcd3, type IMember, type IStatusResponse } from 'etcd3';
import type { ChannelOptions } from '@grpc/grpc-js';
import { etcd3Options, type Credentials, type TlsFiles } from './connection';
import { round } from './probes';
import type { CheckResult } from './report';

/** What the checks of one endpoint share. */
export interface ProbeContext {
  readonly endpoint: string;
  readonly tls: TlsFiles;
  readonly auth?: Credentials;
  /** Deadline of every call, in ms. */
  readonly timeoutMs: number;
}

/** Key the auth and keepalive checks read and watch; never written. */
export const DOCTOR_KEY = 'etcd3-resilient-doctor/probe';
/** Latency samples taken. */
const SAMPLES = 5;
/** Our client's default read attempt timeout: a slower round trip fails reads. */
const ATTEMPT_TIMEOUT_MS = 1000;

/** A one-attempt client for one endpoint; `grpcOptions` on top. */
export function probeClient(
  ctx: ProbeContext,
  withAuth: boolean,
  grpcOptions: ChannelOptions = {},
): Etcd3 {
  return new Etcd3({
    ...etcd3Options([ctx.endpoint], ctx.tls, withAuth ? ctx.auth : undefined),
    hosts: [ctx.endpoint],
    faultHandling: { global: noop, host: () => noop },
    grpcOptions: { 'grpc.use_local_subchannel_pool': 1, ...grpcOptions },
  });
}

/** Rejects after `ms` if `p` has not settled (etcd3 does not bound every path itself). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

const message = (err: unknown): string =>
  String((err as Error)?.message ?? err)
    .split('\n')[0]!
    .slice(0, 200);
const deadline = (ms: number) => ({ deadline: Date.now() + ms });

/** Status of the member: does it answer at all? */
export async function checkResponds(
  ctx: ProbeContext,
  client: Etcd3,
): Promise<{ result: CheckResult; status?: IStatusResponse }> {
  const start = performance.now();
  try {
    const status = await within(
      client.maintenance.status(deadline(ctx.timeoutMs)),
      ctx.timeoutMs + 500,
      'Status',
    );
    const ms = round(performance.now() - start);
    return {
      result: {
        name: 'responds',
        status: 'pass',
        detail: `Status answered in ${ms.toFixed(1)} ms (member ${status.header.member_id})`,
        values: { statusMs: ms, memberId: status.header.member_id },
      },
      status,
    };
  } catch (err) {
    const text = message(err);
    const silent = /no answer|deadline/i.test(text);
    const fix = silent
      ? 'TCP connects but nothing answers: the etcd process may be stopped (SIGSTOP), swapping, stalled on disk, or this port is not etcd. Check the process, its logs and etcd_disk_wal_fsync_duration_seconds.'
      : /protocol|RST_STREAM|http2|Received HTTP|UNAVAILABLE/i.test(text) &&
          ctx.endpoint.startsWith('http://')
        ? "The port may be TLS-only: try https:// with --cacert. Otherwise check that this port is etcd's client port."
        : "Check etcd's logs and that this is its client URL (not the peer URL).";
    return { result: { name: 'responds', status: 'fail', detail: text, fix } };
  }
}

/** Median and max of a few Status round trips. */
export async function checkLatency(ctx: ProbeContext, client: Etcd3): Promise<CheckResult> {
  const samples: number[] = [];
  try {
    for (let i = 0; i < SAMPLES; i++) {
      const start = performance.now();
      await within(
        client.maintenance.status(deadline(ctx.timeoutMs)),
        ctx.timeoutMs + 500,
        'Status',
      );
      samples.push(performance.now() - start);
    }
  } catch (err) {
    return {
      name: 'latency',
      status: 'fail',
      detail: `after ${samples.length} samples: ${message(err)}`,
      values: { samples: samples.length },
      fix: 'The member answers only intermittently: check its load and the network.',
    };
  }
  samples.sort((a, b) => a - b);
  const median = round(samples[Math.floor(samples.length / 2)]!);
  const max = round(samples[samples.length - 1]!);
  const detail = `round trip ${median.toFixed(1)} ms median, ${max.toFixed(1)} ms max (${SAMPLES} Status calls)`;
  const values = { medianMs: median, maxMs: max, samples: SAMPLES };
  if (median >= ATTEMPT_TIMEOUT_MS) {
    return {
      name: 'latency',
      status: 'fail',
      detail,
      fix: `Reads would time out: raise the client's attemptTimeoutMs well above ${median.toFixed(0)} ms, or use a nearer member.`,
      values,
    };
  }
  if (median > 100) {
    return {
      name: 'latency',
      status: 'warn',
      detail,
      fix: "Slow for etcd (expect < 10 ms on a LAN): check the network path and the member's load.",
      values,
    };
  }
  return { name: 'latency', status: 'pass', detail, values };
}

/** Server version: 3.4+ is what this library is tested with. */
export function checkVersion(status: IStatusResponse): CheckResult {
  const [major, minor] = status.version.split('.').map(Number);
  const detail = `etcd ${status.version}, db ${(Number(status.dbSize) / 2 ** 20).toFixed(1)} MiB, raft term ${status.raftTerm}`;
  const values = {
    version: status.version,
    dbSizeBytes: Number(status.dbSize),
    raftTerm: Number(status.raftTerm),
  };
  if (major === 3 && (minor ?? 0) >= 4) return { name: 'version', status: 'pass', detail, values };
  return {
    name: 'version',
    status: 'warn',
    detail,
    values,
    fix: 'etcd3-resilient is tested with etcd 3.4 and newer; upgrade the cluster.',
  };
}

/** Member list, plus the leader seen by this member. */
export async function checkMembersAndLeader(
  ctx: ProbeContext,
  client: Etcd3,
  status: IStatusResponse,
): Promise<CheckResult[]> {
  let members: IMember[];
  try {
    members = (
      await within(
        client.cluster.memberList({}, deadline(ctx.timeoutMs)),
        ctx.timeoutMs + 500,
        'MemberList',
      )
    ).members;
  } catch (err) {
    return [
      {
        name: 'leader',
        status: status.leader === '0' ? 'fail' : 'pass',
        detail: `leader id ${status.leader}`,
        values: { leaderId: status.leader, raftTerm: Number(status.raftTerm) },
      },
      {
        name: 'members',
        status: 'fail',
        detail: message(err),
        fix: 'The member does not list the cluster: check its logs.',
      },
    ];
  }
  const nameOf = (id: string) => members.find(m => m.ID === id)?.name || id;
  const leader: CheckResult =
    status.leader === '0'
      ? {
          name: 'leader',
          status: 'fail',
          detail: 'this member sees no leader',
          values: { leaderId: '0', raftTerm: Number(status.raftTerm) },
          fix: 'The cluster lost quorum or this member is partitioned from it: check the other members (`etcdctl endpoint status --cluster`) and the peer network.',
        }
      : {
          name: 'leader',
          status: 'pass',
          detail: `${nameOf(status.leader)}${status.leader === status.header.member_id ? ' (this member)' : ''}, raft term ${status.raftTerm}`,
          values: { leaderId: status.leader, raftTerm: Number(status.raftTerm) },
        };
  const listed = members.map(
    m =>
      `${m.name || '(unstarted)'}${m.isLearner ? ' [learner]' : ''} ${m.clientURLs.join(' ') || '(no client URL)'}`,
  );
  const odd = members.filter(m => !m.name || m.clientURLs.length === 0);
  const values = {
    members: members.length,
    learners: members.filter(m => m.isLearner).length,
    unstarted: odd.length,
  };
  const membersResult: CheckResult =
    odd.length > 0
      ? {
          name: 'members',
          status: 'warn',
          detail: `${members.length}: ${listed.join('; ')}`,
          fix: 'A member has not started or advertises no client URL: finish adding it (`etcdctl member list`) or remove it; clients syncing endpoints from this list cannot use it.',
          values,
        }
      : {
          name: 'members',
          status: 'pass',
          detail: `${members.length}: ${listed.join('; ')}`,
          values,
        };
  return [leader, membersResult];
}

/** Authentication, or whether the server demands it. */
export async function checkAuth(ctx: ProbeContext): Promise<CheckResult> {
  const client = probeClient(ctx, true);
  try {
    await within(
      client.get(DOCTOR_KEY).options(deadline(ctx.timeoutMs)).string(),
      ctx.timeoutMs + 500,
      'Range',
    );
    return {
      name: 'auth',
      status: 'pass',
      detail: ctx.auth
        ? `authenticated as ${ctx.auth.username}; reads allowed`
        : 'auth not enabled (anonymous reads work)',
    };
  } catch (err) {
    const text = message(err);
    if (/authentication is not enabled/i.test(text)) {
      return {
        name: 'auth',
        status: 'warn',
        detail: 'auth is not enabled on the server; --user is not needed',
        fix: 'Drop the credentials, or enable auth on the cluster (`etcdctl auth enable`).',
      };
    }
    if (/user name is empty|invalid auth token|user name not found/i.test(text) && !ctx.auth) {
      return {
        name: 'auth',
        status: 'fail',
        detail: `auth is enabled: ${text}`,
        fix: 'Pass --user NAME --password-env VAR (and give your service `auth: { username, password }`).',
      };
    }
    if (/authentication failed|invalid user ID or password/i.test(text)) {
      return {
        name: 'auth',
        status: 'fail',
        detail: `authentication failed for ${ctx.auth?.username}`,
        fix: 'Wrong user name or password: check the variable named by --password-env (`etcdctl user get NAME`).',
      };
    }
    if (/permission denied/i.test(text)) {
      return {
        name: 'auth',
        status: 'warn',
        detail: `authenticated as ${ctx.auth?.username ?? 'nobody'}, but may not read ${DOCTOR_KEY}`,
        fix: 'Fine if the service reads other keys only; otherwise grant its role read access.',
      };
    }
    return {
      name: 'auth',
      status: 'fail',
      detail: text,
      fix: "Unexpected answer to a read: check etcd's logs.",
    };
  } finally {
    client.close();
  }
}
