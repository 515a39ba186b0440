/**
 * The layering of docs/architecture.md, checked: every relative import in lib/ goes
 * to a unit (a folder, or a top-level file) of a strictly lower layer. So features
 * never import each other (discovery and registry share the watch hub one layer
 * down), features reach etcd through the Namespace they are given (not the pool),
 * and nothing imports upwards. A new top-level unit must be given a layer here.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const LIB = resolve(__dirname, '../../lib');

/** Layer of each unit; a unit may import only units with a smaller number. */
const LAYER: Record<string, number> = {
  errors: 0,
  validate: 1,
  logger: 1,
  policy: 2,
  internals: 2,
  'service-record': 2,
  events: 3,
  cancel: 3,
  tracing: 3,
  // The channel core publishes its events through events.ts' Emitter.
  channel: 4,
  options: 4,
  watch: 4,
  'client-watchers': 4,
  // Owned leases, locks and elections; the election observer follows the watch hub.
  lease: 5,
  pool: 5,
  client: 6,
  discovery: 7,
  registry: 7,
  grpc: 8,
  metrics: 9,
  cli: 9,
  testing: 9,
  index: 10,
};

/**
 * Features talk to etcd through the etcd3 `Namespace` API they are given, never
 * through our pool or client internals (helpers they share live in `policy/`).
 */
const FEATURES_ABOVE_CLIENT = ['discovery', 'registry', 'grpc'];
const INTERNAL_TO_CLIENT = ['pool', 'client'];

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      yield* sources(path);
    } else if (name.endsWith('.ts')) {
      yield path;
    }
  }
}

/** `pool` for lib/pool/x.ts, `client` for lib/client.ts. */
function unitOf(path: string): string {
  const [first, ...rest] = relative(LIB, path).split(sep);
  return rest.length > 0 ? first! : first!.replace(/\.ts$/, '');
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from|import\(|require\()\s*'(\.{1,2}\/[^']*)'/g)];
  return specs.map(m => m[1]!);
}

describe('lib/ layering (docs/architecture.md)', () => {
  const files = [...sources(LIB)];

  it('every unit of lib/ has a layer', () => {
    const units = new Set(files.map(unitOf));
    expect([...units].filter(u => !(u in LAYER))).toEqual([]);
  });

  it('imports only go to lower layers; no feature imports another, nor the pool or client', () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = unitOf(file);
      for (const spec of importsOf(file)) {
        const to = unitOf(resolve(dirname(file), spec) + (spec.endsWith('.ts') ? '' : '.ts'));
        const upwards = to !== from && !(LAYER[to]! < LAYER[from]!);
        const intoClient = FEATURES_ABOVE_CLIENT.includes(from) && INTERNAL_TO_CLIENT.includes(to);
        if (upwards || intoClient) {
          violations.push(`${relative(LIB, file)} imports ${spec} (${from} -> ${to})`);
        }
      }
    }
    expect(violations).toEqual([]);
  });
});
