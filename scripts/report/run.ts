/**
 * `npm run report`: runs the whole fault matrix (our client and raw etcd3 side by
 * side against fresh local etcd clusters) and writes docs/report/README.md plus one
 * SVG timeline per fault. Finishes in well under 10 minutes; every etcd process,
 * proxy and data dir it starts is removed before it exits (also on Ctrl-C).
 *
 * Usage: tsx scripts/report/run.ts [--out docs/report] [fault-id ...]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { MATRIX } from './faults';
import { machineInfo, writeReadme } from './readme';
import { runScenario, type ScenarioResult, CLIENT_LABELS, CLIENTS } from './scenario';
import { renderTimeline } from './svg';

/** The whole run must stay under this (the report says if it did not). */
export const BUDGET_MS = 10 * 60_000;

function parseArgs(argv: string[]): { out: string; ids: string[] } {
  let out = path.join(__dirname, '..', '..', 'docs', 'report');
  const ids: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') out = path.resolve(argv[++i] ?? out);
    else ids.push(argv[i]!);
  }
  return { out, ids };
}

async function main(): Promise<void> {
  const { out, ids } = parseArgs(process.argv.slice(2));
  const specs = ids.length > 0 ? MATRIX.filter(f => ids.includes(f.id)) : MATRIX;
  if (specs.length !== (ids.length || MATRIX.length)) {
    console.error(`unknown fault id; known: ${MATRIX.map(f => f.id).join(', ')}`);
    process.exit(2);
  }
  mkdirSync(out, { recursive: true });
  const started = performance.now();
  const results: ScenarioResult[] = [];
  const failures: Array<{ id: string; error: string }> = [];
  for (const [i, spec] of specs.entries()) {
    console.error(`[${i + 1}/${specs.length}] ${spec.title}`);
    try {
      const r = await runScenario(spec, line => console.error(line));
      results.push(r);
      writeFileSync(
        path.join(out, `${spec.id}.svg`),
        renderTimeline({
          title: spec.title,
          rows: CLIENTS.map(name => ({
            label: CLIENT_LABELS[name],
            records: r.clients[name].records,
          })),
          faultStart: r.window.start,
          faultEnd: r.window.end,
          faultLabel: spec.label,
          endMs: r.endMs,
          markers: r.markers,
        }),
      );
    } catch (err) {
      console.error(`  FAILED: ${String((err as Error)?.stack ?? err)}`);
      failures.push({ id: spec.id, error: String((err as Error)?.message ?? err) });
    }
    if (performance.now() - started > BUDGET_MS) {
      console.error('time budget exceeded; stopping');
      break;
    }
  }
  const wallMs = performance.now() - started;
  writeReadme(path.join(out, 'README.md'), {
    results,
    failures,
    wallMs,
    machine: await machineInfo(),
  });
  console.error(`wrote ${path.join(out, 'README.md')} in ${(wallMs / 1000).toFixed(0)} s`);
  if (failures.length > 0) process.exitCode = 1;
}

const bail = (signal: string) => {
  console.error(`${signal}: stopping; etcd processes are killed on exit`);
  process.exit(130); // runs lib/testing's exit hook, which kills and removes what is left
};
process.on('SIGINT', () => bail('SIGINT'));
process.on('SIGTERM', () => bail('SIGTERM'));
process.on('unhandledRejection', err => console.error('unhandled rejection (ignored):', err));
main().then(
  // Raw etcd3's hung calls may hold handles forever: exit explicitly.
  () => process.exit(process.exitCode ?? 0),
  err => {
    console.error(err);
    process.exit(1);
  },
);
