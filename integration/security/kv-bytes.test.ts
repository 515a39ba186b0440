/**
 * Properties against a real etcd: keys and values of arbitrary bytes (NUL, 0xff,
 * invalid UTF-8) round-trip exactly through put/get/prefix/delete/watch, prefix
 * ranges never leak a neighbour's keys (0xff carry), and bad keys or oversized
 * values get typed errors instead of crashing or corrupting anything.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Etcd3 } from '../../lib/client';
import { startEtcd, type EtcdCluster } from '../../lib/testing';

let cluster: EtcdCluster;
let client: Etcd3;
let run = 0;
/** A fresh namespace byte prefix per property run, so runs never see each other's keys. */
const runPrefix = () => Buffer.from(`bytes/${run++}/`);

beforeAll(async () => {
  cluster = await startEtcd();
  client = new Etcd3({ hosts: cluster.endpoints, callTimeoutMs: 5000 });
});
afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

const bytes = (min: number, max: number) =>
  fc.uint8Array({ minLength: min, maxLength: max }).map(a => Buffer.from(a));
/** Bytes that stress encodings and range ends: NUL, 0xff runs, invalid UTF-8. */
const nastyBytes = fc.oneof(
  bytes(1, 64),
  fc.constantFrom(
    Buffer.from([0]),
    Buffer.from([0xff]),
    Buffer.from([0xff, 0xff, 0xff]),
    Buffer.from([0xc3, 0x28]),
    Buffer.from([0xed, 0xa0, 0x80]),
  ),
  fc
    .array(fc.constantFrom(0x00, 0xff, 0x2f), { minLength: 1, maxLength: 8 })
    .map(a => Buffer.from(a)),
);

describe('arbitrary bytes round-trip through a real etcd', () => {
  test('put / get / getAll().prefix / delete with arbitrary key and value bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(nastyBytes, {
          minLength: 1,
          maxLength: 4,
          selector: b => b.toString('hex'),
        }),
        bytes(0, 2048),
        async (keys, value) => {
          const prefix = runPrefix();
          const full = keys.map(k => Buffer.concat([prefix, k]));
          for (const k of full) await client.put(k).value(value);
          for (const k of full) expect((await client.get(k).buffer())?.equals(value)).toBe(true);
          const listed = await client.getAll().prefix(prefix).keyBuffers();
          expect(listed.map(b => b.toString('hex')).sort()).toEqual(
            full.map(b => b.toString('hex')).sort(),
          );
          const deleted = await client.delete().prefix(prefix);
          expect(Number(deleted.deleted)).toBe(full.length);
          for (const k of full) expect(await client.get(k).buffer()).toBeNull();
        },
      ),
      { numRuns: 60 },
    );
  });

  test('a prefix ending in 0xff bytes never matches a neighbouring key', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(0x00, 0xfe, 0xff), { minLength: 1, maxLength: 4 }),
        async tail => {
          const base = runPrefix();
          const prefix = Buffer.concat([base, Buffer.from(tail)]);
          // Neighbours: the same bytes with the last one changed up or down, and the bare base.
          const last = tail[tail.length - 1]!;
          const neighbours = [
            base,
            ...[last - 1, last + 1]
              .filter(b => b >= 0 && b <= 255)
              .map(b => Buffer.concat([base, Buffer.from([...tail.slice(0, -1), b])])),
          ];
          const inside = [
            prefix,
            Buffer.concat([prefix, Buffer.from([0])]),
            Buffer.concat([prefix, Buffer.from([0xff, 0xff])]),
          ];
          for (const k of [...neighbours, ...inside]) await client.put(k).value('x');
          const listed = (await client.getAll().prefix(prefix).keyBuffers())
            .map(b => b.toString('hex'))
            .sort();
          expect(listed).toEqual(inside.map(b => b.toString('hex')).sort());
          await client.delete().prefix(base);
        },
      ),
      { numRuns: 40 },
    );
  });

  test('a namespace with arbitrary prefix bytes isolates its keys and strips its prefix', async () => {
    await fc.assert(
      fc.asyncProperty(
        nastyBytes,
        nastyBytes,
        fc.string({ unit: 'grapheme', maxLength: 30 }),
        async (nsBytes, key, text) => {
          const base = runPrefix();
          const ns = client.namespace(Buffer.concat([base, nsBytes]));
          await ns.put(key).value(text);
          expect(await ns.get(key).string()).toBe(text);
          expect((await ns.getAll().keyBuffers()).map(b => b.toString('hex'))).toEqual([
            key.toString('hex'),
          ]);
          expect(await client.get(Buffer.concat([base, nsBytes, key])).string()).toBe(text);
          await client.delete().prefix(base);
        },
      ),
      { numRuns: 40 },
    );
  });

  test('a watch delivers arbitrary value bytes unchanged, in order', async () => {
    const key = Buffer.from([0xff, 0x00, 0x2f, 0xfe]);
    const values = fc.sample(bytes(0, 512), { numRuns: 25, seed: 42 });
    const watcher = await client.watch().key(key).create();
    const seen: Buffer[] = [];
    const done = new Promise<void>(resolve =>
      watcher.on('put', kv => {
        seen.push(kv.value);
        if (seen.length === values.length) resolve();
      }),
    );
    for (const v of values) await client.put(key).value(v);
    await done;
    expect(seen.map(b => b.toString('hex'))).toEqual(values.map(b => b.toString('hex')));
    await watcher.cancel();
  });
});

describe('bad keys and values get typed errors', () => {
  test('an empty key is rejected by etcd with a typed error, and nothing is written', async () => {
    const err = await client
      .put(Buffer.alloc(0))
      .value('x')
      .then(
        () => undefined,
        e => e,
      );
    expect(err).toBeInstanceOf(Error);
    expect(String(err.message)).toMatch(/key is not provided/);
    expect(err.constructor.name).not.toBe('TypeError');
  });

  test('a value over the server request limit fails typed; the client keeps working', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 1);
    const err = await client
      .put('bytes/too-big')
      .value(big)
      .then(
        () => undefined,
        e => e,
      );
    expect(err).toBeInstanceOf(Error);
    expect(String(err.message)).toMatch(/too large|exceeds|larger than max|RESOURCE_EXHAUSTED/i);
    expect(await client.get('bytes/too-big').string()).toBeNull();
    await client.put('bytes/after').value('ok');
    expect(await client.get('bytes/after').string()).toBe('ok');
  });
});
