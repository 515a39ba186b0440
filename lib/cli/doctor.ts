/**
 * `etcd3-resilient doctor`: checks every endpoint (reachability, TLS, answers,
 * latency, version, leader, members, auth, keepalive acceptance) and prints a
 * verdict per check with the fix for each problem. Exit code 0 when healthy
 * (warnings allowed), 1 when a check failed.
 */
import * as grpc from '@grpc/grpc-js';
import { DOCTOR_OPTIONS, endpointsFlag, intFlag, parseCommand, type ParsedArgs } from './args';
import { credentials, tlsFiles } from './connection';
import { safeJson } from './escape';
import {
  checkAuth,
  checkLatency,
  checkMembersAndLeader,
  checkResponds,
  checkVersion,
  probeClient,
  type ProbeContext,
} from './etcd-checks';
import { checkKeepalive, conclusiveHoldMs, type KeepaliveCheckOptions } from './keepalive-check';
import { checkReachable, checkTls } from './probes';
import {
  countStatuses,
  isHealthy,
  renderText,
  type CheckResult,
  type EndpointReport,
} from './report';
import type { Io } from './io';

/** Usage of `doctor`. */
export const DOCTOR_USAGE = `Usage: etcd3-resilient doctor [--endpoints a,b] [options]

Checks each etcd endpoint and prints PASS/WARN/FAIL per check, with a FIX for each problem.
Takes about a second on a healthy cluster; --keepalive adds the keepalive check (22 s).
Exit code: 0 healthy (warnings allowed), 1 a check failed, 2 bad usage.

Options:
  --endpoints a,b         etcd client URLs (default: $ETCD_ENDPOINTS or 127.0.0.1:2379)
  --cacert FILE           CA of the server certificates (https:// endpoints)
  --cert FILE --key FILE  client certificate and key (servers with --client-cert-auth)
  --user NAME             etcd user; the password is read from --password-env
  --password-env VAR      environment variable holding the password
  --timeout MS            deadline of each check's calls (default 3000)
  --keepalive             also check that the server accepts our keepalive pings: holds a
                          watch for 4 pings + 2 s (22 s; conclusive for etcd's 3-strike policy)
  --keepalive-time-ms MS  ping interval of the keepalive check (default 5000, our minimum);
                          implies --keepalive
  --keepalive-check-ms MS how long the keepalive check holds the watch
                          (default 4 pings + 2 s); implies --keepalive
  --json                  print the results as JSON (with measured values per check)
  -h, --help              print this help`;

/** The checks run after `responds`, in order. */
const AFTER_RESPONDS = ['latency', 'version', 'leader', 'members', 'auth', 'keepalive'];

/** Runs every check of one endpoint; a failed prerequisite skips what depends on it. */
export async function doctorEndpoint(
  ctx: ProbeContext,
  keepalive: KeepaliveCheckOptions | undefined,
): Promise<EndpointReport> {
  const checks: CheckResult[] = [];
  const skipRest = (names: string[], why: string) => {
    for (const name of names) checks.push({ name, status: 'skip', detail: why });
  };
  const after = ['responds', ...AFTER_RESPONDS];
  const reach = await checkReachable(ctx.endpoint, ctx.timeoutMs);
  checks.push(reach);
  if (reach.status === 'fail') {
    skipRest(['tls', ...after], 'endpoint not reachable');
    return { endpoint: ctx.endpoint, checks };
  }
  const tls = await checkTls(ctx.endpoint, ctx.tls, ctx.timeoutMs);
  checks.push(tls);
  if (tls.status === 'fail') {
    skipRest(after, 'no TLS session');
    return { endpoint: ctx.endpoint, checks };
  }
  const client = probeClient(ctx, false);
  try {
    const { result, status } = await checkResponds(ctx, client);
    checks.push(result);
    if (!status) {
      skipRest(after.slice(1), 'etcd does not answer');
      return { endpoint: ctx.endpoint, checks };
    }
    // The keepalive check only waits: run it alongside the others.
    const keepaliveResult = keepalive
      ? checkKeepalive(ctx, keepalive)
      : Promise.resolve<CheckResult>({
          name: 'keepalive',
          status: 'skip',
          detail: 'not run (it holds a watch for 22 s): add --keepalive',
        });
    // The rest are independent reads: run them concurrently too.
    const [latency, members, auth] = await Promise.all([
      checkLatency(ctx, client),
      checkMembersAndLeader(ctx, client, status),
      checkAuth(ctx),
    ]);
    checks.push(latency, checkVersion(status), ...members, auth, await keepaliveResult);
  } finally {
    client.close();
  }
  return { endpoint: ctx.endpoint, checks };
}

/** The keepalive check's settings, or undefined when it is not asked for. */
function keepaliveOptions(args: ParsedArgs): KeepaliveCheckOptions | undefined {
  const asked = ['keepalive', 'keepalive-time-ms', 'keepalive-check-ms'].some(f =>
    args.flags.has(f),
  );
  if (!asked) return undefined;
  const timeMs = intFlag(args, 'keepalive-time-ms', 5000);
  return { timeMs, holdMs: intFlag(args, 'keepalive-check-ms', conclusiveHoldMs(timeMs)) };
}

/** Parses `doctor`'s arguments, runs it, prints, and returns the exit code. */
export async function runDoctor(argv: readonly string[], io: Io): Promise<number> {
  const args = parseCommand(argv, DOCTOR_OPTIONS, 0);
  if (args.flags.has('help')) {
    io.out(`${DOCTOR_USAGE}\n`);
    return 0;
  }
  const endpoints = endpointsFlag(args);
  const keepalive = keepaliveOptions(args);
  const base = {
    tls: tlsFiles(args),
    auth: credentials(args),
    timeoutMs: intFlag(args, 'timeout', 3000),
  };
  const json = args.flags.has('json');
  if (!json) {
    const hold = keepalive
      ? `; the keepalive check holds a watch for ${(keepalive.holdMs / 1000).toFixed(0)} s`
      : '';
    io.err(`Checking ${endpoints.length} endpoint(s)${hold}...\n\n`);
  }
  // grpc-js logs connection trouble to stderr by itself; the checks report it instead.
  grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  const start = performance.now();
  const reports = await Promise.all(
    endpoints.map(endpoint => doctorEndpoint({ endpoint, ...base }, keepalive)),
  );
  const healthy = isHealthy(reports);
  if (json) {
    const summary = {
      healthy,
      durationMs: Math.round(performance.now() - start),
      counts: countStatuses(reports),
      endpoints: reports,
    };
    io.out(`${safeJson(summary, 2)}\n`);
  } else {
    io.out(renderText(reports));
  }
  return healthy ? 0 : 1;
}
