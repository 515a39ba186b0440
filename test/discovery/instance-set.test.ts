import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emptyResult, InstanceSet, type InstanceChange } from '../../lib/discovery/instance-set';
import { InvalidRecordError } from '../../lib/errors';
import { goNamingCodec, type RecordCodec } from '../../lib/service-record';

const rec = (addr: string, metadata: unknown = null) =>
  JSON.stringify({ Op: 0, Addr: addr, Metadata: metadata });
const newSet = (codec: RecordCodec = goNamingCodec) => new InstanceSet('', 'svc', codec);
const summary = (changes: InstanceChange[]) =>
  changes.map(c => `${c.type}:${c.instance.id}=${c.instance.addr}`);

describe('InstanceSet.apply', () => {
  it('adds, updates and removes, reporting each change once', () => {
    const s = newSet();
    const out = emptyResult();
    s.apply('svc/a', rec('10.0.0.1:80'), 5, out);
    s.apply('svc/a', rec('10.0.0.2:80'), 6, out);
    s.apply('svc/b', rec('10.0.0.3:80'), 7, out);
    s.apply('svc/a', undefined, 8, out);
    expect(summary(out.changes)).toEqual([
      'added:a=10.0.0.1:80',
      'updated:a=10.0.0.2:80',
      'added:b=10.0.0.3:80',
      'removed:a=10.0.0.2:80',
    ]);
    expect(s.snapshot().map(i => i.id)).toEqual(['b']);
    expect(s.size).toBe(1);
  });

  it('drops an event at or below the revision already applied for its key', () => {
    const s = newSet();
    const out = emptyResult();
    s.apply('svc/a', rec('10.0.0.1:80'), 5, out);
    s.apply('svc/a', rec('10.0.0.9:80'), 5, out); // same revision again
    s.apply('svc/a', rec('10.0.0.8:80'), 4, out); // older
    expect(out.duplicates).toBe(2);
    expect(summary(out.changes)).toEqual(['added:a=10.0.0.1:80']);
  });

  it('does not report a re-put with identical content as an update', () => {
    const s = newSet();
    const out = emptyResult();
    s.apply('svc/a', rec('10.0.0.1:80', { zone: 'a' }), 5, out);
    s.apply('svc/a', rec('10.0.0.1:80', { zone: 'a' }), 6, out);
    expect(summary(out.changes)).toEqual(['added:a=10.0.0.1:80']);
  });

  it('skips malformed records, and adds the key once a valid value is written', () => {
    const s = newSet();
    const out = emptyResult();
    s.apply('svc/x', 'not json', 3, out);
    s.apply('svc/y', rec('no-port'), 4, out);
    expect(out.changes).toEqual([]);
    expect(out.invalid.map(i => i.key)).toEqual(['svc/x', 'svc/y']);
    expect(String(out.invalid[0]!.error)).toMatch(/not JSON/);
    s.apply('svc/x', rec('10.0.0.1:80'), 5, out);
    expect(summary(out.changes)).toEqual(['added:x=10.0.0.1:80']);
  });

  it('removes an instance whose record becomes malformed', () => {
    const s = newSet();
    const out = emptyResult();
    s.apply('svc/a', rec('10.0.0.1:80'), 5, out);
    s.apply('svc/a', '{"Op":1}', 6, out);
    expect(summary(out.changes)).toEqual(['added:a=10.0.0.1:80', 'removed:a=10.0.0.1:80']);
    expect(out.invalid).toHaveLength(1);
    expect(s.size).toBe(0);
  });

  it('survives a codec that throws anything or returns garbage', () => {
    const codec: RecordCodec = {
      encode: () => '',
      decode: (_k, v) => {
        if (v === 'throw-string') throw 'boom';
        if (v === 'garbage') return undefined as any;
        return { service: 'svc', id: 'z', addr: v, metadata: null };
      },
    };
    const s = newSet(codec);
    const out = emptyResult();
    s.apply('svc/a', 'throw-string', 2, out);
    s.apply('svc/b', 'garbage', 3, out);
    s.apply('svc/c', '1.2.3.4:5', 4, out);
    expect(out.invalid.map(i => i.key)).toEqual(['svc/a', 'svc/b']);
    expect(s.size).toBe(1);
  });

  it('ignores keys that are not direct children of the service', () => {
    const s = newSet();
    const out = emptyResult();
    s.apply('svc/nested/a', rec('10.0.0.1:80'), 2, out);
    s.apply('svcx/a', rec('10.0.0.1:80'), 3, out);
    expect(out.changes).toEqual([]);
    expect(out.invalid).toEqual([]);
  });
});

describe('InstanceSet.replace (re-list)', () => {
  it('emits only the difference', () => {
    const s = newSet();
    s.replace([
      { key: 'svc/a', value: rec('10.0.0.1:80'), modRevision: 2 },
      { key: 'svc/b', value: rec('10.0.0.2:80'), modRevision: 3 },
      { key: 'svc/c', value: rec('10.0.0.3:80'), modRevision: 4 },
    ]);
    const out = s.replace([
      { key: 'svc/a', value: rec('10.0.0.1:80'), modRevision: 2 }, // unchanged
      { key: 'svc/b', value: rec('10.0.0.9:80'), modRevision: 7 }, // changed
      { key: 'svc/d', value: rec('10.0.0.4:80'), modRevision: 8 }, // new
    ]);
    expect(summary(out.changes).sort()).toEqual([
      'added:d=10.0.0.4:80',
      'removed:c=10.0.0.3:80',
      'updated:b=10.0.0.9:80',
    ]);
    expect(s.snapshot().map(i => i.id)).toEqual(['a', 'b', 'd']);
  });

  it('reports an unchanged malformed record once, not on every re-list', () => {
    const s = newSet();
    const first = s.replace([{ key: 'svc/bad', value: 'x', modRevision: 2 }]);
    const second = s.replace([{ key: 'svc/bad', value: 'x', modRevision: 2 }]);
    expect(first.invalid).toHaveLength(1);
    expect(second.invalid).toHaveLength(0);
  });

  it('keeps the snapshot array stable until something changes', () => {
    const s = newSet();
    s.replace([{ key: 'svc/a', value: rec('10.0.0.1:80'), modRevision: 2 }]);
    const snap = s.snapshot();
    expect(Object.isFrozen(snap)).toBe(true);
    s.replace([{ key: 'svc/a', value: rec('10.0.0.1:80'), modRevision: 2 }]);
    expect(s.snapshot()).toBe(snap);
    s.replace([]);
    expect(s.snapshot()).not.toBe(snap);
    expect(s.snapshot()).toEqual([]);
  });
});

describe('InstanceSet properties', () => {
  const op = fc.record({
    id: fc.constantFrom('a', 'b', 'c', 'd'),
    kind: fc.constantFrom('put', 'put', 'delete', 'bad'),
    port: fc.integer({ min: 1, max: 3 }),
  });

  it('events applied in order, with arbitrary replays, leave the set equal to the final key space and the changes replay to it', () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 40 }),
        fc.array(fc.nat(40), { maxLength: 10 }),
        (ops, replays) => {
          // Build a history (revision i + 2 for op i) and the final key space.
          const history = ops.map((o, i) => ({
            key: `svc/${o.id}`,
            value:
              o.kind === 'delete' ? undefined : o.kind === 'bad' ? '{' : rec(`10.0.0.1:${o.port}`),
            rev: i + 2,
          }));
          const final = new Map<string, string>();
          for (const h of history) {
            if (h.value === undefined) final.delete(h.key);
            else final.set(h.key, h.value);
          }
          // Deliver the history, re-sending random earlier suffixes (a resumed watch that repeats).
          const s = newSet();
          const out = emptyResult();
          const model = new Map<string, string>();
          let cursor = 0;
          const deliverUpTo = (n: number) => {
            for (; cursor < n; cursor++) {
              const h = history[cursor]!;
              s.apply(h.key, h.value, h.rev, out);
            }
          };
          for (const r of replays) {
            deliverUpTo(Math.min(history.length, r));
            for (const h of history.slice(Math.max(0, cursor - 3), cursor)) {
              s.apply(h.key, h.value, h.rev, out); // duplicates: must change nothing
            }
          }
          deliverUpTo(history.length);
          for (const c of out.changes) {
            if (c.type === 'removed') {
              expect(model.has(c.instance.id)).toBe(true);
              model.delete(c.instance.id);
            } else {
              expect(model.has(c.instance.id)).toBe(c.type === 'updated');
              model.set(c.instance.id, c.instance.addr);
            }
          }
          const expected = new Map(
            [...final]
              .filter(([, v]) => v !== '{')
              .map(([k, v]) => [k.slice(4), JSON.parse(v).Addr as string]),
          );
          expect(new Map(s.snapshot().map(i => [i.id, i.addr]))).toEqual(expected);
          expect(model).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a re-list from any state reaches the listed state, emitting a difference that replays to it', () => {
    // In etcd a key's value is fixed by its mod revision, so the value is derived from it here.
    const state = fc.dictionary(
      fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      fc.integer({ min: 2, max: 5 }),
    );
    fc.assert(
      fc.property(state, state, (before, after) => {
        const toRecords = (st: Record<string, number>) =>
          Object.entries(st).map(([id, rev]) => ({
            key: `svc/${id}`,
            value: rec(`10.0.0.1:${rev}`),
            modRevision: rev,
          }));
        const s = newSet();
        s.replace(toRecords(before));
        const model = new Map(s.snapshot().map(i => [i.id, i.addr]));
        const out = s.replace(toRecords(after));
        for (const c of out.changes) {
          if (c.type === 'removed') model.delete(c.instance.id);
          else model.set(c.instance.id, c.instance.addr);
        }
        const expected = new Map(Object.entries(after).map(([id, rev]) => [id, `10.0.0.1:${rev}`]));
        expect(new Map(s.snapshot().map(i => [i.id, i.addr]))).toEqual(expected);
        expect(model).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});

describe('InstanceSet with hostile records (issue 10, finding 13)', () => {
  const deep = (n: number) => {
    let v: unknown = 1;
    for (let i = 0; i < n; i++) v = [v];
    return v;
  };
  const hostileMetadata: Array<[string, () => unknown]> = [
    ['nested 100,000 deep', () => deep(100_000)],
    [
      'a throwing toJSON',
      () => ({
        toJSON: () => {
          throw new Error('boom');
        },
      }),
    ],
    [
      'a self-toJSON',
      () => {
        const o: { toJSON(): unknown } = { toJSON: () => ({ ...o }) };
        return o;
      },
    ],
    [
      'a throwing getter',
      () =>
        Object.defineProperty({}, 'x', {
          enumerable: true,
          get: () => {
            throw new Error('getter');
          },
        }),
    ],
  ];
  for (const [name, make] of hostileMetadata) {
    it(`a codec returning metadata with ${name} never throws out of apply()`, () => {
      let n = 0;
      const codec: RecordCodec = {
        encode: () => '',
        decode: (_k, v, service, id) => ({ service, id, addr: v, metadata: make() }),
      };
      const s = newSet(codec);
      const out = emptyResult();
      expect(() => {
        s.apply('svc/a', '10.0.0.1:80', ++n, out);
        s.apply('svc/a', '10.0.0.1:80', ++n, out);
        s.apply('svc/a', '10.0.0.2:80', ++n, out);
      }).not.toThrow();
      expect(s.snapshot().map(i => i.addr)).toEqual(['10.0.0.2:80']);
    });
  }

  it('reports a codec that throws a non-Error as a typed InvalidRecordError', () => {
    const codec: RecordCodec = {
      encode: () => '',
      decode: () => {
        throw 'nope';
      },
    };
    const s = newSet(codec);
    const out = emptyResult();
    s.apply('svc/a', 'x', 1, out);
    expect(out.invalid).toHaveLength(1);
    expect(out.invalid[0]?.error).toBeInstanceOf(InvalidRecordError);
    expect((out.invalid[0]?.error as InvalidRecordError).key).toBe('svc/a');
  });
});
