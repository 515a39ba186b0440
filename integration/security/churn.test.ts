/**
 * No leaks under churn: for CHURN_MS, members of a real 3-member cluster are
 * killed, frozen and stopped in turn while three workers create, use and close
 * clients with watches, leases, registrations and discoveries. Afterwards, with
 * everything closed and every member running, the process must be back at its
 * baseline: the same open fds and sockets, not one connection to etcd, no extra
 * handle keeping the event loop alive, and heap growth (after full GCs) under
 * HEAP_BOUND_BYTES.
 *
 * Why that heap bound: a lifecycle that leaked its client (channels, etcd3
 * namespaces, registration and discovery state) would retain about 0.2 MB
 * (measured: 20 lifecycles left unclosed hold ~3.7 MB), and the run makes several
 * hundred lifecycles, so leaking even one client in ten adds > 10 MB. After the
 * warm-up (WARMUP_MS of the same churn, so that V8 has compiled and optimised the
 * code paths before the baseline), the soak script measures ~1-1.5 KB of heap
 * growth per lifecycle (V8 code and inline caches, plus a small known leak in
 * lib/registry/durable-lease.ts, see the security notes): ~1 MB here, hence 6 MB.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startEtcd, type EtcdCluster } from '../../lib/testing';
import { runChurn } from './churn-workload';
import { describeFigures, mb, measure, settleTo, socketDetails, type Figures } from './leak-meter';

const CHURN_MS = Number(process.env.ETCD3R_CHURN_MS ?? 50_000);
const HEAP_BOUND_BYTES = 6 * 1024 * 1024;
const WARMUP_MS = 10_000;
/**
 * Long enough for closed sockets to be released: grpc-js keeps a closed channel's
 * connection in its subchannel pool until its next sweep, up to 10 s later.
 */
const SETTLE_MS = 25_000;

let cluster: EtcdCluster;
let baseline: Figures;
let baselineSockets: string[] = [];
let ports: number[] = [];

beforeAll(async () => {
  cluster = await startEtcd({ members: 3 });
  // Warm up with the same churn: load and optimise every code path before the baseline.
  await runChurn(cluster, { durationMs: WARMUP_MS });
  ports = cluster.members.map(m => m.clientPort);
  const settled = await settleTo(measure(), SETTLE_MS, ports);
  expect(settled.connections, 'warm-up connections closed').toEqual([]);
  baseline = measure();
  baselineSockets = socketDetails();
  console.log(`[churn] baseline: ${describeFigures(baseline)}`);
}, 120_000);

afterAll(() => cluster?.stop());

test(`${CHURN_MS / 1000} s of kill/freeze/stop churn leaves no fd, socket, handle or heap behind`, async () => {
  const start = Date.now();
  const stats = await runChurn(cluster, {
    durationMs: CHURN_MS,
    onFault: (kind, member, s) =>
      console.log(
        `[churn] +${Math.round((Date.now() - start) / 1000)} s ${kind} ${member}: ${s.cycles} lifecycles, ${s.ok} ok, ${s.typedErrors} typed errors`,
      ),
  });
  const after = await settleTo(baseline, SETTLE_MS, ports);
  const growth = after.heapUsed - baseline.heapUsed;
  console.log(`[churn] ${JSON.stringify(stats)}`);
  console.log(`[churn] after:    ${describeFigures(after)}`);
  const extra = socketDetails().filter(s => !baselineSockets.includes(s));
  if (after.sockets > baseline.sockets)
    console.log(
      `[churn] sockets not in the baseline:\n  ${extra.join('\n  ')}\nbaseline:\n  ${baselineSockets.join('\n  ')}`,
    );
  console.log(
    `[churn] heap growth ${mb(growth)} over ${stats.cycles} lifecycles (bound ${mb(HEAP_BOUND_BYTES)})`,
  );

  // The run did real work under real faults.
  expect(stats.cycles).toBeGreaterThan(30);
  expect(stats.faults.kill + stats.faults.freeze + stats.faults.stop).toBeGreaterThanOrEqual(3);
  expect(stats.ok).toBeGreaterThan(stats.cycles * 5);
  // Every failure was a typed error.
  expect(stats.untyped).toEqual([]);
  // Back to baseline: not one connection to etcd left open, same fds and sockets.
  expect(after.connections).toEqual([]);
  expect(after.fds).toBeLessThanOrEqual(baseline.fds);
  expect(after.sockets).toBeLessThanOrEqual(baseline.sockets);
  for (const [kind, n] of Object.entries(after.handles)) {
    expect(n, `ref'd ${kind} handles`).toBeLessThanOrEqual(baseline.handles[kind] ?? 0);
  }
  expect(growth).toBeLessThan(HEAP_BOUND_BYTES);
}, 180_000);
