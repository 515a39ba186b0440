/**
 * Every etcd3 internal the library relies on, checked against the installed etcd3
 * (pinned to 1.1.2): an etcd3 upgrade that changes one of them fails here, in CI,
 * not in production. A shape that does not match is reported once, as a process
 * warning, and the fix that needs it is skipped.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { Etcd3 } from '../../lib/client';
import { Watcher } from 'etcd3';
import {
  Host,
  checkEtcd3Shapes,
  patchWatchBuilder,
  resumeExactly,
  watchManagerOf,
} from '../../lib/internals/etcd3';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('etcd3 internals', () => {
  test('the installed etcd3 is the pinned version', () => {
    const pkg = JSON.parse(readFileSync(require.resolve('etcd3/package.json'), 'utf8'));
    const ours = JSON.parse(readFileSync(`${__dirname}/../../package.json`, 'utf8'));
    expect(ours.dependencies.etcd3).toBe('1.1.2');
    expect(pkg.version).toBe('1.1.2');
  });

  test('every shape we rely on is as expected', () => {
    expect(checkEtcd3Shapes()).toEqual([]);
  });

  test('a changed shape is detected (here: a Host method and Watcher.updateRevision removed)', () => {
    const proto = Host.prototype as any;
    const reset = proto.getServiceClient;
    const update = (Watcher.prototype as any).updateRevision;
    try {
      delete proto.getServiceClient;
      delete (Watcher.prototype as any).updateRevision;
      expect(checkEtcd3Shapes()).toEqual(
        expect.arrayContaining([
          'Host.prototype.getServiceClient',
          'Watcher.prototype.updateRevision',
        ]),
      );
    } finally {
      proto.getServiceClient = reset;
      (Watcher.prototype as any).updateRevision = update;
    }
    expect(checkEtcd3Shapes()).toEqual([]);
  });

  test("our pool is installed into a real Etcd3's pool object", async () => {
    const client = new Etcd3({ hosts: '127.0.0.1:1' });
    try {
      const pool = (client as any).pool;
      expect(pool.exec.name).toBe('bound exec');
      expect(pool.withConnection.name).toBe('bound withConnection');
      expect(watchManagerOf(client)).toBeDefined();
    } finally {
      await client.close();
    }
  });

  test('a shape that does not match warns once (process warning) and keeps etcd3 behaviour', () => {
    const emit = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const odd = { notAWatcher: true };
    expect(resumeExactly(odd)).toBe(odd);
    expect(resumeExactly({ other: 1 })).toEqual({ other: 1 });
    const builder = {} as never;
    expect(patchWatchBuilder(builder, w => w)).toBe(builder);
    const shapes = emit.mock.calls.map(c => String(c[0]));
    expect(shapes.filter(m => /Watcher has an unexpected shape/.test(m))).toHaveLength(1);
    expect(shapes.filter(m => /WatchBuilder.watcher/.test(m))).toHaveLength(1);
    expect(emit.mock.calls[0][1]).toEqual({ code: 'ERESILIENT_ETCD3_SHAPE' });
  });
});
