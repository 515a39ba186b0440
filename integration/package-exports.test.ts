/**
 * The built package as users load it: `etcd3-resilient` and
 * `etcd3-resilient/testing` through package.json "exports", with both require()
 * and import. Needs `npm run build` first (`npm test` does it).
 *
 * Each check runs in a fresh Node process so that Node itself (not vitest's
 * resolver) resolves the package by name, via self-reference from the repo root.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';

const root = path.resolve(__dirname, '..');

/** Runs an ES module snippet with the repo root as cwd; resolves to its JSON output. */
function runModule(source: string): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '--eval', source],
      { cwd: root, timeout: 30_000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`${err.message}\n${stderr}`));
        try {
          resolve(JSON.parse(stdout));
        } catch {
          reject(new Error(`not JSON: ${stdout}\n${stderr}`));
        }
      },
    );
  });
}

const PROBE = `
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/package.json');
const cjsMain = require('etcd3-resilient');
const cjsTesting = require('etcd3-resilient/testing');
const esmMain = await import('etcd3-resilient');
const esmTesting = await import('etcd3-resilient/testing');
const keys = o => Object.keys(o).filter(k => k !== 'default' && k !== '__esModule').sort();
console.log(JSON.stringify({
  resolved: {
    main: require.resolve('etcd3-resilient'),
    testing: require.resolve('etcd3-resilient/testing'),
    esmMain: import.meta.resolve('etcd3-resilient'),
    esmTesting: import.meta.resolve('etcd3-resilient/testing'),
  },
  types: {
    cjsEtcd3: typeof cjsMain.Etcd3,
    esmEtcd3: typeof esmMain.Etcd3,
    cjsStartEtcd: typeof cjsTesting.startEtcd,
    esmStartEtcd: typeof esmTesting.startEtcd,
    esmStartProxy: typeof esmTesting.startProxy,
  },
  same: {
    Etcd3: esmMain.Etcd3 === cjsMain.Etcd3,
    startEtcd: esmTesting.startEtcd === cjsTesting.startEtcd,
    defaultMain: esmMain.default === cjsMain,
    defaultTesting: esmTesting.default === cjsTesting,
  },
  keys: {
    cjsMain: keys(cjsMain), esmMain: keys(esmMain),
    cjsTesting: keys(cjsTesting), esmTesting: keys(esmTesting),
  },
}));
`;

describe('package exports (built dist/)', () => {
  test('dist/ is built', () => {
    for (const f of [
      'dist/lib/index.js',
      'dist/lib/testing/index.js',
      'dist/esm/index.mjs',
      'dist/esm/testing.mjs',
    ]) {
      expect(existsSync(path.join(root, f)), `${f} missing: run \`npm run build\``).toBe(true);
    }
  });

  test('require() and import of both entry points give the same objects', async () => {
    const r = await runModule(PROBE);
    expect(r.resolved).toEqual({
      main: path.join(root, 'dist/lib/index.js'),
      testing: path.join(root, 'dist/lib/testing/index.js'),
      esmMain: `file://${path.join(root, 'dist/esm/index.mjs')}`,
      esmTesting: `file://${path.join(root, 'dist/esm/testing.mjs')}`,
    });
    expect(r.types).toEqual({
      cjsEtcd3: 'function',
      esmEtcd3: 'function',
      cjsStartEtcd: 'function',
      esmStartEtcd: 'function',
      esmStartProxy: 'function',
    });
    expect(r.same).toEqual({
      Etcd3: true,
      startEtcd: true,
      defaultMain: true,
      defaultTesting: true,
    });
    // Every CommonJS export is a named ESM export, and nothing else is.
    expect(r.keys.esmMain).toEqual(r.keys.cjsMain);
    expect(r.keys.esmTesting).toEqual(r.keys.cjsTesting);
  });
});
