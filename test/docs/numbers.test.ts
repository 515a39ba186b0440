/**
 * One source for every number in the docs: the defaults stated in README.md and
 * docs/*.md equal the ones the code resolves, and README's measured figures equal
 * the detailed docs they summarise (docs/benchmark.md, docs/discovery.md,
 * docs/registration.md).
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveGrpcClientOptions } from '../../lib/grpc/client-options';
import { resolveOptions } from '../../lib/options';

const ROOT = path.join(__dirname, '..', '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const DOCS = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter(f => f.endsWith('.md'))
    .map(f => `docs/${f}`),
];

const CLIENT = resolveOptions({});
const GRPC_CLIENT = resolveGrpcClientOptions({});

/** The resolved default at `dotted` (e.g. `keepalive.timeMs`), if it is a number or boolean. */
function lookup(source: object, dotted: string): number | boolean | undefined {
  let v: unknown = source;
  for (const part of dotted.split('.')) v = (v as Record<string, unknown> | undefined)?.[part];
  return typeof v === 'number' || typeof v === 'boolean' ? v : undefined;
}

interface Stated {
  readonly file: string;
  readonly line: number;
  readonly name: string;
  readonly stated: string;
  readonly actual: number | boolean;
}

/**
 * Every table row `| \`a.b\` / \`c\` | 1 / 2 | ...` whose names are options: the
 * stated value next to the default. Names after the first may omit the group
 * (`keepalive.timeMs` / `timeoutMs`). Rows under a heading about createGrpcClient
 * state that function's defaults.
 */
function statedDefaults(file: string): Stated[] {
  const out: Stated[] = [];
  let heading = '';
  read(file)
    .split('\n')
    .forEach((text, i) => {
      if (text.startsWith('#')) heading = text;
      const cells = text.split('|').map(c => c.trim());
      if (cells.length < 4 || !/^`[\w.]+`( \/ `[\w.]+`)*$/.test(cells[1]!)) return;
      const names = cells[1]!.split(' / ').map(n => n.replace(/`/g, ''));
      const values = cells[2]!.split(' / ').map(v => v.replace(/`/g, '').trim());
      if (names.length !== values.length) return;
      const source = /createGrpcClient/.test(heading) ? GRPC_CLIENT : CLIENT;
      const group = names[0]!.includes('.') ? names[0]!.split('.')[0] : undefined;
      names.forEach((name, k) => {
        const actual =
          lookup(source, name) ??
          (group && !name.includes('.') ? lookup(source, `${group}.${name}`) : undefined);
        const stated = values[k]!;
        // Prose such as "min(1000, interval)" or "none" is not a number to compare.
        if (actual === undefined || !/^(-?[\d.]+|true|false)$/.test(stated)) return;
        out.push({ file, line: i + 1, name, stated, actual });
      });
    });
  return out;
}

describe('defaults stated in the docs', () => {
  const stated = DOCS.flatMap(statedDefaults);

  it('equal the resolved defaults of lib/options.ts and lib/grpc/client-options.ts', () => {
    const wrong = stated
      .filter(s => s.stated !== String(s.actual))
      .map(s => `${s.file}:${s.line} says ${s.name} = ${s.stated}, the code says ${s.actual}`);
    expect(wrong).toEqual([]);
  });

  it('cover the keepalive defaults wherever a doc tables them', () => {
    const where = stated.filter(s => s.name.endsWith('timeMs')).map(s => s.file);
    expect(where).toEqual(expect.arrayContaining(['README.md', 'docs/threat-model.md']));
  });

  it('in prose: "keepalive N s + M s" and "the client\'s default of N s"', () => {
    const wrong: string[] = [];
    const { timeMs, timeoutMs } = CLIENT.keepalive;
    for (const file of DOCS) {
      const text = read(file);
      for (const m of text.matchAll(/keepalive\s+(\d+(?:\.\d+)?) s\s+\+\s+(\d+(?:\.\d+)?) s/g)) {
        if (Number(m[1]) * 1000 !== timeMs || Number(m[2]) * 1000 !== timeoutMs)
          wrong.push(`${file}: "${m[0]}" (defaults ${timeMs} / ${timeoutMs} ms)`);
      }
      for (const m of text.matchAll(
        /client's\s+default\s+(?:keepalive\s+)?(?:of\s+|is\s+)?(\d+(?:\.\d+)?) ?s\b/g,
      )) {
        if (Number(m[1]) * 1000 !== timeMs) wrong.push(`${file}: "${m[0]}" (default ${timeMs} ms)`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

/** The README's "Measured" row whose first cell matches `what`: its result cell. */
function readmeMeasured(what: RegExp): string {
  const row = read('README.md')
    .split('\n')
    .find(l => l.startsWith('|') && what.test(l.split('|')[1] ?? ''));
  expect(row, `README.md has no measured row matching ${what}`).toBeDefined();
  return row!.split('|')[2]!.trim();
}

const dash = (s: string) => s.replace(/[‐-―-]/g, '–');

describe("README's measured figures", () => {
  it('benchmark: the range of the per-run "median of pairs" ratios in docs/benchmark.md', () => {
    const rows = read('docs/benchmark.md')
      .split('\n')
      .filter(l => /\| median of \d+ pairs \|/.test(l))
      .map(l => l.split('|').map(c => c.replace(/\*/g, '').trim()));
    expect(rows.length).toBeGreaterThan(0);
    const throughput = rows.map(r => Number(r[3]));
    const p99 = rows.map(r => Number(r[5]));
    const pairs = rows[0]![2]!.match(/\d+/)![0];
    const range = (xs: number[]) => `${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)}`;
    const cell = dash(readmeMeasured(/Throughput \/ p99 vs raw etcd3/));
    expect(cell).toContain(`${range(throughput)} / ${range(p99)}`);
    expect(cell).toContain(`median of ${pairs} round pairs`);
  });

  it('discovery: 10,000 instances ready in the time docs/discovery.md gives', () => {
    const detailed = read('docs/discovery.md').match(
      /\| One service, 10,000 instances \| ready in (\d+)[-–](\d+) ms/,
    );
    expect(detailed).not.toBeNull();
    expect(dash(readmeMeasured(/10,000 instances/))).toContain(
      `ready in ${detailed![1]}–${detailed![2]} ms`,
    );
  });

  it('registrations: the steady-state CPU docs/registration.md gives', () => {
    const detailed = read('docs/registration.md').match(
      /\| steady-state CPU \| \*\*([\d.]+ % of a core)\*\*/,
    );
    expect(detailed).not.toBeNull();
    expect(readmeMeasured(/1,000 registrations/)).toContain(detailed![1]);
  });
});
