/**
 * Registry integrity against a real etcd, with arbitrary input: whatever valid
 * service, id, address, prefix and metadata a registration carries is exactly
 * what discovery reports; garbage written straight into a service's prefix (any
 * bytes, before or after discovery starts) is skipped with an `invalidRecord`
 * event and never crashes discovery or hides the real instances.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Etcd3 } from '../../lib/client';
import { discover, type Discovery } from '../../lib/discovery/discovery';
import { register } from '../../lib/registry/register';
import { isValidAddress, servicePrefix, type ServiceInstance } from '../../lib/service-record';
import { startEtcd, type EtcdCluster } from '../../lib/testing';
import { address, instanceId, prefix, serviceName } from '../../test/property/arbitraries';

let cluster: EtcdCluster;
let client: Etcd3;
let run = 0;

beforeAll(async () => {
  cluster = await startEtcd();
  client = new Etcd3({ hosts: cluster.endpoints });
});
afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

/** Resolves when `pred` holds for the discovery's snapshot (checked on every change), at most `ms`. */
function until(
  d: Discovery,
  pred: (s: readonly ServiceInstance[]) => boolean,
  ms = 5000,
): Promise<readonly ServiceInstance[]> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (pred(d.snapshot())) {
        sub.dispose();
        clearTimeout(timer);
        resolve(d.snapshot());
      }
    };
    const sub = d.onChange(check);
    const timer = setTimeout(() => {
      sub.dispose();
      reject(
        new Error(
          `discovery condition not met within ${ms} ms; snapshot ${JSON.stringify(d.snapshot())}`,
        ),
      );
    }, ms);
    check();
  });
}

/** A service name unique to this run (the last segment gets a suffix). */
const unique = (service: string) => `${service}-r${run++}`;

describe('what is registered is what is discovered', () => {
  test('arbitrary service, id, address, prefix and JSON metadata round-trip through etcd', async () => {
    await fc.assert(
      fc.asyncProperty(
        serviceName,
        instanceId,
        address,
        prefix,
        fc.jsonValue({ maxDepth: 3 }),
        async (s, id, addr, pfx, metadata) => {
          const service = unique(s);
          const d = discover(client, service, { prefix: pfx });
          const invalid: unknown[] = [];
          d.onInvalidRecord(r => invalid.push(r));
          await d.ready;
          const reg = register(client, { service, id, addr, prefix: pfx, metadata, ttlSeconds: 5 });
          try {
            await reg.ready();
            const seen = await until(d, snap => snap.length === 1);
            expect(seen[0]).toEqual({
              service,
              id,
              addr,
              // Written as Go's json.Marshal does, so -0 stays -0 (JSON.stringify would say 0).
              metadata,
            });
          } finally {
            await reg.close();
          }
          await until(d, snap => snap.length === 0);
          expect(invalid).toEqual([]);
          await d.close();
        },
      ),
      { numRuns: 30 },
    );
  });
});

/** Values that can never be a record: not a JSON object (first byte is not `{`). */
const garbageValue = fc
  .uint8Array({ minLength: 0, maxLength: 200 })
  .filter(a => a.length === 0 || a[0] !== 0x7b)
  .map(a => Buffer.from(a));
/** Key suffixes: any bytes, some with '/' (nested, ignored) or empty (the prefix itself). */
const garbageKey = fc
  .oneof(
    fc.uint8Array({ minLength: 0, maxLength: 40 }),
    fc.constantFrom(new Uint8Array([0xff]), new Uint8Array([0x2f, 0x61])),
  )
  .map(a => Buffer.from(a));

describe('garbage under a service prefix', () => {
  test('is skipped with invalidRecord events; real instances stay visible; discovery keeps following', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(garbageKey, garbageValue), { minLength: 1, maxLength: 8 }),
        fc.array(fc.tuple(garbageKey, garbageValue), { maxLength: 4 }),
        async (before, after) => {
          const service = unique('garbage');
          const base = Buffer.from(servicePrefix('', service));
          const regA = register(client, {
            service,
            id: 'real-a',
            addr: '10.0.0.1:80',
            ttlSeconds: 5,
          });
          await regA.ready();
          for (const [k, v] of before) await client.put(Buffer.concat([base, k])).value(v);

          const d = discover(client, service);
          const invalid: string[] = [];
          d.onInvalidRecord(r => invalid.push(r.key));
          await d.ready;
          expect(d.snapshot().map(i => i.id)).toEqual(['real-a']);

          // Live garbage while watching, then a second real instance: it must appear.
          for (const [k, v] of after) await client.put(Buffer.concat([base, k])).value(v);
          const regB = register(client, {
            service,
            id: 'real-b',
            addr: '10.0.0.2:80',
            ttlSeconds: 5,
          });
          try {
            await regB.ready();
            const snap = await until(d, s => s.some(i => i.id === 'real-b'));
            expect(snap.map(i => i.id)).toEqual(['real-a', 'real-b']);
            for (const i of snap) expect(isValidAddress(i.addr)).toBe(true);
            // Every garbage key that is a direct child (non-empty, no '/') was reported.
            const direct = [...before, ...after].filter(([k]) => k.length > 0 && !k.includes(0x2f));
            if (direct.length > 0) expect(invalid.length).toBeGreaterThan(0);
            expect(d.stats().instances).toBe(2);
          } finally {
            await Promise.all([regA.close(), regB.close()]);
            await d.close();
            await client.delete().prefix(base);
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe('keys that are not UTF-8', () => {
  // Discovery once decoded keys lossily, so distinct byte keys collapsed into one id
  // ("\ufffd"): one record hid the other. Such keys are now reported as invalid records.
  test('records whose ids differ only in invalid UTF-8 bytes are never merged into one', async () => {
    const service = unique('utf8');
    const base = Buffer.from(servicePrefix('', service));
    const keyA = Buffer.concat([base, Buffer.from([0xff])]);
    const keyB = Buffer.concat([base, Buffer.from([0xfe])]);
    await client.put(keyA).value(JSON.stringify({ Op: 0, Addr: '10.0.0.1:1', Metadata: null }));
    await client.put(keyB).value(JSON.stringify({ Op: 0, Addr: '10.0.0.2:1', Metadata: null }));
    const d = discover(client, service);
    const invalid: string[] = [];
    d.onInvalidRecord(r => invalid.push(r.key));
    try {
      await d.ready;
      const addrs = () =>
        d
          .snapshot()
          .map(i => i.addr)
          .sort();
      const listed = addrs();
      // Neither is shown: both are reported, separately, as invalid records.
      expect(listed).toEqual([]);
      expect(new Set(invalid).size).toBe(2);
      await client.delete().key(keyA);
      await new Promise(resolve => setTimeout(resolve, 300));
      expect(addrs()).toEqual(listed.filter(a => a !== '10.0.0.1:1'));
    } finally {
      await d.close();
      await client.delete().prefix(base);
    }
  });
});
