/**
 * `etcd3-resilient doctor`: checks every endpoint (reachability, TLS, answers,
 * latency, version, leader, members, auth, keepalive acceptance) and prints a
 * verdict per check with the fix for each problem. Exit code 0 when healthy
 * (warnings allowed), 1 when a check failed.
 */
import * as grpc from '@grpc/grpc-js';
import { endpointsFlag, intFlag, parseArgs, type ParsedArgs } from './args';
import { CONNECTION_FLAGS, credentials, tlsFiles } from './connection';
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
import { isHealthy, renderText, type CheckResult, type EndpointReport } from './report';
import type { Io } from './io';

/** Usage of `doctor`. */
export const DOCTOR_USAGE = `Usage: etcd3-resilient doctor [--endpoints a,b] [options]

Checks each etcd endpoint and prints PASS/WARN/FAIL per check, with a FIX for each problem.
Exit code: 0 healthy (warnings allowed), 1 a check failed, 2 bad usage.

Options:
  --endpoints a,b         etcd client URLs (default: $ETCD_ENDPOINTS or 127.0.0.1:2379)
  --cacert FILE           CA of the server certificates (https:// endpoints)
  --cert FILE --key FILE  client certificate and key (servers with --client-cert-auth)
  --user NAME             etcd user; the password is read from --password-env
  --password-env VAR      environment variable holding the password
  --timeout MS            deadline of each check's calls (default 3000)
  --keepalive-time-ms MS  ping interval of the keepalive check (default 5000, our minimum)
  --keepalive-check-ms MS how long the keepalive check holds a watch
                          (default 4 pings + 2 s = 22000: conclusive for etcd's 3-strike policy)
  --quick                 hold the keepalive watch 6 s only (not conclusive)
  --json                  print the results as JSON`;

/** Runs every check of one endpoint; a failed prerequisite skips what depends on it. */
export async function doctorEndpoint(
  ctx: ProbeContext,
  keepalive: KeepaliveCheckOptions,
): Promise<EndpointReport> {
  const checks: CheckResult[] = [];
  const skipRest = (names: string[], why: string) => {
    for (const name of names) checks.push({ name, status: 'skip', detail: why });
  };
  const after = ['responds', 'latency', 'version', 'leader', 'members', 'auth', 'keepalive'];
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
    const keepaliveResult = checkKeepalive(ctx, keepalive);
    checks.push(await checkLatency(ctx, client));
    checks.push(checkVersion(status));
    checks.push(...(await checkMembersAndLeader(ctx, client, status)));
    checks.push(await checkAuth(ctx));
    checks.push(await keepaliveResult);
  } finally {
    client.close();
  }
  return { endpoint: ctx.endpoint, checks };
}

/** Parses `doctor`'s arguments, runs it, prints, and returns the exit code. */
export async function runDoctor(argv: readonly string[], io: Io): Promise<number> {
  const args: ParsedArgs = parseArgs(
    argv,
    [...CONNECTION_FLAGS, 'keepalive-time-ms', 'keepalive-check-ms'],
    ['json', 'quick', 'help'],
  );
  if (args.flags.has('help')) {
    io.out(`${DOCTOR_USAGE}\n`);
    return 0;
  }
  const endpoints = endpointsFlag(args);
  const timeMs = intFlag(args, 'keepalive-time-ms', 5000);
  const keepalive: KeepaliveCheckOptions = {
    timeMs,
    holdMs: intFlag(
      args,
      'keepalive-check-ms',
      args.flags.has('quick') ? 6000 : conclusiveHoldMs(timeMs),
    ),
  };
  const base = {
    tls: tlsFiles(args),
    auth: credentials(args),
    timeoutMs: intFlag(args, 'timeout', 3000),
  };
  if (!args.flags.has('json')) {
    io.err(
      `Checking ${endpoints.length} endpoint(s); the keepalive check holds a watch for ${(keepalive.holdMs / 1000).toFixed(0)} s...\n\n`,
    );
  }
  // grpc-js logs connection trouble to stderr by itself; the checks report it instead.
  grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  const reports = await Promise.all(
    endpoints.map(endpoint => doctorEndpoint({ endpoint, ...base }, keepalive)),
  );
  const healthy = isHealthy(reports);
  if (args.flags.has('json')) {
    io.out(`${JSON.stringify({ healthy, endpoints: reports }, null, 2)}\n`);
  } else {
    io.out(renderText(reports));
  }
  return healthy ? 0 : 1;
}
