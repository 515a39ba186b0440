/**
 * `npm run compare`: a quick side-by-side of our client and raw etcd3 against the
 * same local etcd through a few faults (~2 min), printed as a table. The full matrix
 * with pictures is `npm run report` (scripts/report/run.ts).
 *
 * Usage: tsx scripts/compare.ts [fault-id ...]   (default: sigstop blackhole half-open)
 */
import { MATRIX } from './report/faults';
import { resultsTable } from './report/markdown';
import { runScenario, type ScenarioResult } from './report/scenario';

const DEFAULT_FAULTS = ['sigstop', 'blackhole', 'half-open'];

async function main(): Promise<void> {
  const ids = process.argv.slice(2).length > 0 ? process.argv.slice(2) : DEFAULT_FAULTS;
  const unknown = ids.filter(id => !MATRIX.some(f => f.id === id));
  if (unknown.length > 0) {
    console.error(
      `unknown fault(s): ${unknown.join(', ')}; known: ${MATRIX.map(f => f.id).join(', ')}`,
    );
    process.exit(2);
  }
  const results: ScenarioResult[] = [];
  for (const id of ids) {
    const spec = MATRIX.find(f => f.id === id)!;
    console.error(`fault: ${spec.title}`);
    results.push(await runScenario(spec, line => console.error(line)));
  }
  console.log(`\n${resultsTable(results)}`);
  console.log(
    'hung = took > 6 s (5 s deadline + 1 s grace) or never returned. Full matrix: npm run report.',
  );
}

process.on('unhandledRejection', err => console.error('unhandled rejection (ignored):', err));
main().then(
  // Raw etcd3's hung calls may hold handles open forever: exit explicitly.
  () => process.exit(0),
  err => {
    console.error(err);
    process.exit(1);
  },
);
