/**
 * The packed tarball, installed offline into fresh consumer projects: CommonJS,
 * ESM, and TypeScript with moduleResolution node10, node16 (ESM and CJS) and
 * bundler. Both entry points import and typecheck; ESM consumers get ESM types
 * (dist/esm/*.d.mts), node10 finds the `testing` types through typesVersions.
 *
 * Needs the build (`npm test` builds first). No network: the package's
 * dependencies and TypeScript come from this repository's node_modules (symlinked).
 */
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..', '..');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const pkg = require(path.join(ROOT, 'package.json')) as { version: string; files: string[] };

function run(
  cmd: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise(resolve => {
    execFile(cmd, args, { cwd, timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({
        code: err ? Number((err as { code?: number }).code ?? 1) || 1 : 0,
        stdout,
        stderr,
      }),
    );
  });
}

function write(dir: string, files: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

const TS_SOURCE = (ext: string) =>
  `
import { createClient, Etcd3, isRecoverableError, type ResilientEtcdOptions } from 'etcd3-resilient${ext}';
import { startEtcd, startProxy, type EtcdCluster } from 'etcd3-resilient/testing${ext}';
const options: ResilientEtcdOptions = { hosts: ['127.0.0.1:2379'], callTimeoutMs: 5000 };
const make: (o: ResilientEtcdOptions) => Etcd3 = createClient;
const started: Promise<EtcdCluster> = startEtcd;
void [options, make, started, startProxy, isRecoverableError];
// @ts-expect-error  a typo in an option is a type error
const bad: ResilientEtcdOptions = { hosts: [], callTimeoutMS: 1 };
void bad;
`.replace(
    'const started: Promise<EtcdCluster> = startEtcd;',
    'const started: () => Promise<EtcdCluster> = () => startEtcd();',
  );

describe('the packed package in fresh consumer projects', () => {
  let work: string;
  let consumers: string;

  beforeAll(async () => {
    for (const built of [
      'dist/lib/index.js',
      'dist/lib/testing/index.d.ts',
      'dist/esm/index.d.mts',
    ]) {
      expect(existsSync(path.join(ROOT, built)), `${built} is missing: run \`npm run build\``).toBe(
        true,
      );
    }
    work = mkdtempSync(path.join(os.tmpdir(), 'etcd3r-consumers-'));
    const packed = await run(
      'npm',
      ['pack', '--ignore-scripts', '--offline', '--json', '--pack-destination', work],
      ROOT,
    );
    expect(packed.code, packed.stderr).toBe(0);
    const tarball = path.join(
      work,
      (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]!.filename,
    );
    // One node_modules shared by every consumer below it: the package from the tarball,
    // its dependencies and TypeScript from this repository (offline).
    consumers = path.join(work, 'consumers');
    const modules = path.join(consumers, 'node_modules');
    const target = path.join(modules, 'etcd3-resilient');
    mkdirSync(target, { recursive: true });
    const untar = await run('tar', ['-xzf', tarball, '-C', target, '--strip-components=1'], work);
    expect(untar.code, untar.stderr).toBe(0);
    for (const entry of readdirSync(path.join(ROOT, 'node_modules'))) {
      if (entry.startsWith('.') || entry === 'etcd3-resilient') continue;
      symlinkSync(path.join(ROOT, 'node_modules', entry), path.join(modules, entry));
    }
    write(consumers, { 'package.json': '{ "name": "consumers", "private": true }\n' });
  }, 90_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships LICENSE, README, docs, the bin and the ESM types; no TypeScript sources', () => {
    const target = path.join(consumers, 'node_modules', 'etcd3-resilient');
    for (const f of [
      'LICENSE',
      'README.md',
      'docs/cli.md',
      'bin/etcd3-resilient.js',
      'dist/esm/index.d.mts',
      'dist/esm/testing.d.mts',
      'dist/lib/testing/index.d.ts',
    ]) {
      expect(existsSync(path.join(target, f)), f).toBe(true);
    }
    expect(existsSync(path.join(target, 'lib'))).toBe(false);
    // Every source map carries its sources (lib/*.ts is not shipped).
    const map = JSON.parse(readFileSync(path.join(target, 'dist/lib/index.js.map'), 'utf8')) as {
      sources: string[];
      sourcesContent?: string[];
    };
    expect(map.sourcesContent?.length).toBe(map.sources.length);
  });

  it('CommonJS and ESM import both entry points (the same objects) and run the bin', async () => {
    const cjs = write(path.join(consumers, 'cjs'), {
      'package.json': '{ "type": "commonjs" }\n',
      'index.js': `
const assert = require('node:assert');
const lib = require('etcd3-resilient');
const testing = require('etcd3-resilient/testing');
assert.strictEqual(typeof lib.createClient, 'function');
assert.strictEqual(typeof testing.startEtcd, 'function');
console.log('cjs ok');
`,
    });
    const esm = write(path.join(consumers, 'esm'), {
      'package.json': '{ "type": "module" }\n',
      'index.js': `
import assert from 'node:assert';
import { createRequire } from 'node:module';
import lib, { createClient, Etcd3 } from 'etcd3-resilient';
import { startEtcd } from 'etcd3-resilient/testing';
const require = createRequire(import.meta.url);
assert.strictEqual(createClient, require('etcd3-resilient').createClient);
assert.strictEqual(lib.Etcd3, Etcd3);
assert.strictEqual(startEtcd, require('etcd3-resilient/testing').startEtcd);
console.log('esm ok');
`,
    });
    const bin = path.join(
      consumers,
      'node_modules',
      'etcd3-resilient',
      'bin',
      'etcd3-resilient.js',
    );
    const [c, e, v] = await Promise.all([
      run(process.execPath, ['index.js'], cjs),
      run(process.execPath, ['index.js'], esm),
      run(process.execPath, [bin, '--version'], consumers),
    ]);
    expect(c.stdout + c.stderr).toBe('cjs ok\n');
    expect(e.stdout + e.stderr).toBe('esm ok\n');
    expect(v.stdout).toBe(`${pkg.version}\n`);
  }, 60_000);

  it('typechecks under moduleResolution node10, node16 (ESM and CJS) and bundler', async () => {
    // skipLibCheck: our declarations are checked by the build; here the consumer's use
    // of them is (a missing export or type would fail), in a few seconds per project.
    const base = { strict: true, noEmit: true, types: ['node'], skipLibCheck: true };
    const projects = {
      node10: {
        files: { 'index.ts': TS_SOURCE('') },
        compilerOptions: { module: 'commonjs', moduleResolution: 'node10' },
        types: ['dist/lib/index.d.ts', 'dist/lib/testing/index.d.ts'],
      },
      'node16-esm': {
        files: { 'index.mts': TS_SOURCE(''), 'package.json': '{ "type": "module" }\n' },
        compilerOptions: { module: 'node16', moduleResolution: 'node16' },
        types: ['dist/esm/index.d.mts', 'dist/esm/testing.d.mts'],
      },
      'node16-cjs': {
        files: { 'index.cts': TS_SOURCE('') },
        compilerOptions: { module: 'node16', moduleResolution: 'node16' },
        types: ['dist/lib/index.d.ts', 'dist/lib/testing/index.d.ts'],
      },
      bundler: {
        files: { 'index.ts': TS_SOURCE('') },
        compilerOptions: { module: 'esnext', moduleResolution: 'bundler' },
        types: ['dist/esm/index.d.mts', 'dist/esm/testing.d.mts'],
      },
    };
    const results = await Promise.all(
      Object.entries(projects).map(async ([name, p]) => {
        const dir = write(path.join(consumers, `ts-${name}`), {
          ...p.files,
          'tsconfig.json': JSON.stringify({
            compilerOptions: { ...base, ...p.compilerOptions },
            include: ['*.ts', '*.mts', '*.cts'],
          }),
        });
        return { name, p, r: await run(process.execPath, [TSC, '-p', dir, '--listFiles'], dir) };
      }),
    );
    for (const { name, p, r } of results) {
      const errors = r.stdout
        .split('\n')
        .filter(l => l.includes('error TS'))
        .join('\n');
      expect(errors, `${name}:\n${r.stdout}${r.stderr}`).toBe('');
      expect(r.code, name).toBe(0);
      // The entry points' types come from where the resolution mode says they should.
      for (const file of p.types) {
        expect(r.stdout, `${name} reads ${file}`).toContain(
          path.join('node_modules', 'etcd3-resilient', file),
        );
      }
    }
  }, 90_000);
});
