/**
 * Soak: the churn workload of integration/security/churn.test.ts for as long as
 * asked, printing fd, socket, handle and heap figures after every period, and a
 * before/after summary at the end (with every client closed and grpc-js's
 * subchannel sweep done).
 *
 *   npx tsx scripts/soak.ts --minutes 60 [--period-seconds 60] [--workers 3]
 *
 * Exits 1 if fds, sockets or handles did not return to the baseline, or if an
 * untyped error was seen. Heap is reported, with its growth per period, for
 * you to judge (a steady rise period after period is a leak; a rise that
 * flattens is V8 warming up).
 */
import { parseArgs } from 'node:util';
import { runChurn, zeroChurnStats, type ChurnStats } from '../integration/security/churn-workload';
import {
  describeFigures,
  mb,
  measure,
  settleTo,
  type Figures,
} from '../integration/security/leak-meter';
import { startEtcd } from '../lib/testing';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    'period-seconds': { type: 'string', default: '60' },
    workers: { type: 'string', default: '3' },
  },
});
const minutes = Number(values.minutes);
const periodMs = Number(values['period-seconds']) * 1000;
const workers = Number(values.workers);
if (
  !(minutes > 0) ||
  !(periodMs >= 5000) ||
  !(Number.isInteger(workers) && workers >= 1 && workers <= 32)
) {
  console.error(
    'usage: tsx scripts/soak.ts --minutes N [--period-seconds S >= 5] [--workers 1-32]',
  );
  process.exit(2);
}

/** grpc-js keeps a closed channel's connection until its next 10 s sweep. */
const SETTLE_MS = 25_000;

function add(total: ChurnStats, s: ChurnStats): void {
  total.cycles += s.cycles;
  total.ok += s.ok;
  total.typedErrors += s.typedErrors;
  total.untyped.push(...s.untyped.slice(0, Math.max(0, 20 - total.untyped.length)));
  for (const k of Object.keys(s.faults) as Array<keyof ChurnStats['faults']>)
    total.faults[k] += s.faults[k];
}

async function main(): Promise<number> {
  const cluster = await startEtcd({ members: 3 });
  try {
    const ports = cluster.members.map(m => m.clientPort);
    await runChurn(cluster, { durationMs: 1, workers, maxCyclesPerWorker: 1 }); // warm-up
    await settleTo(measure(), SETTLE_MS, ports);
    const baseline: Figures = measure();
    console.log(`[soak] ${minutes} min, ${workers} workers, period ${periodMs / 1000} s`);
    console.log(`[soak] baseline: ${describeFigures(baseline)}`);
    const total = zeroChurnStats();
    const end = Date.now() + minutes * 60_000;
    let previousHeap = baseline.heapUsed;
    for (let period = 1; Date.now() < end && period <= 100_000; period++) {
      const stats = await runChurn(cluster, {
        durationMs: Math.min(periodMs, end - Date.now()),
        workers,
      });
      add(total, stats);
      // Mid-run figures: clients of this period are closed, the sweep may not have run yet.
      const now = measure();
      console.log(
        `[soak] period ${period}: ${total.cycles} lifecycles, ${total.ok} ok, ${total.typedErrors} typed errors, ` +
          `${total.untyped.length} untyped | ${describeFigures(now)} | heap ${mb(now.heapUsed - previousHeap)} this period`,
      );
      previousHeap = now.heapUsed;
    }
    const after = await settleTo(baseline, SETTLE_MS, ports);
    console.log(`[soak] totals: ${JSON.stringify(total)}`);
    console.log(`[soak] before: ${describeFigures(baseline)}`);
    console.log(
      `[soak] after:  ${describeFigures(after)}; connections to etcd left: ${after.connections.length}`,
    );
    console.log(
      `[soak] heap growth ${mb(after.heapUsed - baseline.heapUsed)} over ${total.cycles} lifecycles`,
    );
    const handlesBack = Object.entries(after.handles).every(
      ([k, n]) => n <= (baseline.handles[k] ?? 0),
    );
    const clean =
      after.fds <= baseline.fds &&
      after.sockets <= baseline.sockets &&
      handlesBack &&
      after.connections.length === 0;
    if (!clean) console.log('[soak] FAIL: resources did not return to the baseline');
    if (total.untyped.length > 0)
      console.log(`[soak] FAIL: untyped errors: ${total.untyped.join('; ')}`);
    return clean && total.untyped.length === 0 ? 0 : 1;
  } finally {
    await cluster.stop();
  }
}

main().then(
  code => process.exit(code),
  err => {
    console.error(err);
    process.exit(1);
  },
);
