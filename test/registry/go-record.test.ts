/**
 * Records byte-identical to Go's `naming/endpoints` (issue 15 item 6): the expected
 * bytes below are what Go's `json.Marshal(internal.Update{Op: 0, Addr, Metadata})`
 * writes, from encoding/json's documented behaviour: struct fields in declaration
 * order, map keys sorted by their UTF-8 bytes, `<` `>` `&` U+2028 U+2029 escaped as
 * \u003c \u003e \u0026 \u2028 \u2029, control characters as \n or \u00XX (lowercase).
 */
import { describe, expect, it } from 'vitest';
import { InvalidRecordError } from '../../lib/errors';
import { goJson, goNamingCodec } from '../../lib/service-record';

const instance = (addr: string, metadata: unknown) => ({ service: 's', id: 'i', addr, metadata });

describe('goNamingCodec.encode: the bytes Go writes', () => {
  it('sorts map keys and escapes HTML characters and line separators as Go does', () => {
    const metadata = {
      zeta: 1,
      alpha: '<b>&"x"</b>',
      mid: ['\u2028\u2029', 'é😀', '\n\u0001\u007f/'],
      Beta: { y: true, x: null, ä: 0, z: -0 },
      '&key': 1.5e-7,
    };
    expect(goNamingCodec.encode(instance('10.0.0.5:8080', metadata))).toBe(
      String.raw`{"Op":0,"Addr":"10.0.0.5:8080","Metadata":{"\u0026key":1.5e-7,"Beta":{"x":null,"y":true,"z":-0,"ä":0},"alpha":"\u003cb\u003e\u0026\"x\"\u003c/b\u003e","mid":["\u2028\u2029","é😀","\n\u0001` +
        '\u007f' +
        String.raw`/"],"zeta":1}}`,
    );
  });

  it('writes null metadata and plain values exactly as before', () => {
    expect(goNamingCodec.encode(instance('h:1', null))).toBe(
      '{"Op":0,"Addr":"h:1","Metadata":null}',
    );
    expect(goNamingCodec.encode(instance('h:1', { zone: 'eu-1' }))).toBe(
      '{"Op":0,"Addr":"h:1","Metadata":{"zone":"eu-1"}}',
    );
  });

  it('orders keys by code point (UTF-8 bytes), not UTF-16 units', () => {
    // U+FF61 sorts before U+1F600 in UTF-16 units (0xFF61 > 0xD83D is false... ) but after it by code point? No:
    // by code point U+FF61 < U+1F600; by UTF-16 unit 0xD83D < 0xFF61. Go uses bytes = code points.
    expect(goJson({ '😀': 1, '｡': 2 })).toBe('{"｡":2,"😀":1}');
  });

  it('writes a lone surrogate as \\ufffd, as Go writes invalid UTF-8', () => {
    expect(goJson('a\ud800b')).toBe(String.raw`"a\ufffdb"`);
  });
});

describe('goNamingCodec.decode: reads what Go reads', () => {
  const decode = (v: string) => goNamingCodec.decode('s/i', v, 's', 'i');

  it('matches field names case-insensitively; the last match wins', () => {
    expect(decode('{"addr":"h:1","METADATA":{"a":1}}')).toMatchObject({
      addr: 'h:1',
      metadata: { a: 1 },
    });
    expect(decode('{"Addr":"h:1","aDDr":"h:2"}').addr).toBe('h:2');
  });

  it('ignores Op on stored values (any uint8), rejects what Go cannot unmarshal', () => {
    expect(decode('{"Op":1,"Addr":"h:1"}').addr).toBe('h:1');
    expect(decode('{"Op":null,"Addr":"h:1"}').addr).toBe('h:1');
    for (const op of ['"x"', '300', '-1', '1.5', '{}']) {
      expect(() => decode(`{"Op":${op},"Addr":"h:1"}`)).toThrow(InvalidRecordError);
    }
  });

  it('accepts IPv6 addresses with a zone', () => {
    expect(decode('{"Addr":"[fe80::1%eth0]:80"}').addr).toBe('[fe80::1%eth0]:80');
  });

  it('reads back every record it writes, byte for byte', () => {
    const meta = { b: ['<&>'], a: { '\u2028': 'x' } };
    const bytes = goNamingCodec.encode(instance('h:1', meta));
    const back = decode(bytes);
    expect(back.metadata).toEqual(meta);
    expect(goNamingCodec.encode(back)).toBe(bytes);
  });

  it('rejects metadata nested deeper than 1000 levels with InvalidRecordError, never a RangeError', () => {
    const deep = `{"Addr":"h:1","Metadata":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    expect(() => decode(deep)).toThrow(InvalidRecordError);
    const ok = `{"Addr":"h:1","Metadata":${'['.repeat(500)}${']'.repeat(500)}}`;
    expect(decode(ok).addr).toBe('h:1');
  });
});
