/**
 * Keepalive acceptance: hold a watch stream open with our keepalive settings and
 * see whether the server (or something in between) closes it.
 *
 * etcd's server (grpc-go) counts a ping that comes sooner than its
 * `--grpc-keepalive-min-time` (default 5 s) after the previous one as a strike,
 * unless it sent data in between; after the third strike it closes the connection
 * with GOAWAY `too_many_pings` (grpc-js then reports RESOURCE_EXHAUSTED and doubles
 * its interval for good). The first ping after the watch is created never counts,
 * so a conclusive check needs 4 pings: 4 × interval + slack.
 */
import { keepaliveChannelOptions } from '../channel/keepalive';
import { DOCTOR_KEY, probeClient, within, type ProbeContext } from './etcd-checks';
import type { CheckResult } from './report';

/** Options of {@link checkKeepalive}. */
export interface KeepaliveCheckOptions {
  /** Ping interval, ms. Defaults (in the CLI) to 5000, the smallest our client accepts. */
  readonly timeMs: number;
  /** How long the watch is held open, ms. */
  readonly holdMs: number;
}

/** Hold long enough for 4 pings: the smallest conclusive check for `timeMs`. */
export const conclusiveHoldMs = (timeMs: number): number => 4 * timeMs + 2000;

const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms));

/** Runs the check; never throws. */
export async function checkKeepalive(
  ctx: ProbeContext,
  opts: KeepaliveCheckOptions,
): Promise<CheckResult> {
  const client = probeClient(
    ctx,
    true,
    keepaliveChannelOptions({ timeMs: opts.timeMs, timeoutMs: 5000, permitWithoutCalls: false }),
  );
  const start = performance.now();
  let closed: { atMs: number; err: { code?: number; message?: string } } | undefined;
  try {
    const watcher = await within(client.watch().key(DOCTOR_KEY).create(), ctx.timeoutMs, 'Watch');
    const onClose = (err: { code?: number; message?: string }) => {
      closed ??= { atMs: performance.now() - start, err: err ?? {} };
    };
    watcher.on('disconnected', onClose);
    watcher.on('error', onClose);
    await sleep(opts.holdMs);
    const held = `${(opts.holdMs / 1000).toFixed(0)} s`;
    const values = {
      intervalMs: opts.timeMs,
      holdMs: opts.holdMs,
      ...(closed ? { closedAfterMs: Math.round(closed.atMs) } : {}),
    };
    if (closed) {
      const text = `${closed.err.message ?? ''}`.split('\n')[0];
      const pings =
        closed.err.code === 8 ||
        /too_many_pings|excess pings|RESOURCE_EXHAUSTED|Bandwidth exhausted/i.test(text);
      return pings
        ? {
            name: 'keepalive',
            status: 'fail',
            detail: `the server closed the connection for too many pings (too_many_pings) after ${(closed.atMs / 1000).toFixed(1)} s with pings every ${opts.timeMs} ms`,
            fix: `The server's --grpc-keepalive-min-time is above ${opts.timeMs} ms: set the client's keepalive.timeMs to at least that value, or lower the server's flag (etcd's default is 5s).`,
            values,
          }
        : {
            name: 'keepalive',
            status: 'fail',
            detail: `the watch stream was closed after ${(closed.atMs / 1000).toFixed(1)} s: ${text}`,
            fix: 'Something closes long-lived HTTP/2 streams (a proxy or load balancer idle timeout?): raise that timeout above the keepalive interval, or connect to etcd directly.',
            values,
          };
    }
    await within(
      client
        .get(DOCTOR_KEY)
        .options({ deadline: Date.now() + ctx.timeoutMs })
        .string(),
      ctx.timeoutMs + 500,
      'Range',
    );
    const conclusive = opts.holdMs >= conclusiveHoldMs(opts.timeMs);
    return {
      name: 'keepalive',
      status: 'pass',
      detail:
        `a watch with pings every ${opts.timeMs} ms stayed open for ${held}` +
        (conclusive
          ? " (long enough for etcd's 3-strike ping policy)"
          : ` (short check; ${conclusiveHoldMs(opts.timeMs)} ms is conclusive)`),
      values,
    };
  } catch (err) {
    return {
      name: 'keepalive',
      status: 'fail',
      detail: `could not hold a watch: ${String((err as Error)?.message ?? err).split('\n')[0]}`,
      fix: "Watches fail on this endpoint: check the auth check above and etcd's logs.",
    };
  } finally {
    client.close();
  }
}
