/**
 * vitest globalSetup of the integration project.
 *
 * - Fails the run early (with install instructions) when no etcd or etcdctl binary
 *   exists (as root with apt-get, installs etcd-server / etcd-client first).
 * - Creates a per-run scratch dir and exports it as `ETCD3R_RUN_DIR`, so every
 *   worker puts its etcd data dirs and pid files there.
 * - On teardown, audits that dir: any etcd process still alive or any data dir
 *   left behind is killed/removed AND fails the run, naming the culprits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestProject } from 'vitest/node';
import { findEtcdBinary, findEtcdctlBinary, verifyEtcdBinary } from '../lib/testing/etcd-binary';
import { RUN_DIR_ENV } from '../lib/testing/process-registry';
import { auditRunDir } from '../lib/testing/run-audit';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Both binaries up front: on a fresh root box this is where apt-get installs them,
  // outside any test's timeout.
  const bin = findEtcdBinary();
  await verifyEtcdBinary(bin);
  findEtcdctlBinary();

  const runDir = mkdtempSync(path.join(os.tmpdir(), `etcd3-resilient-${process.pid}-`));
  const previous = process.env[RUN_DIR_ENV];
  process.env[RUN_DIR_ENV] = runDir;
  // Workers inherit process.env when they start; `provide` is a second channel
  // for pools that do not (read with inject('etcd3rRunDir')).
  project.provide('etcd3rRunDir', runDir);

  return async () => {
    try {
      const leftovers = await auditRunDir(runDir);
      if (leftovers.length > 0) {
        // vitest 4 reports a teardown error but still exits 0: make the run fail.
        process.exitCode = 1;
        throw new Error(
          `integration run left etcd resources behind (now cleaned up):\n  ${leftovers.join('\n  ')}`,
        );
      }
    } finally {
      rmSync(runDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
      if (previous === undefined) delete process.env[RUN_DIR_ENV];
      else process.env[RUN_DIR_ENV] = previous;
    }
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    etcd3rRunDir: string;
  }
}
