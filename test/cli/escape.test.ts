/**
 * Text from etcd (keys, values, member names, server messages) printed by the CLI
 * cannot drive the terminal: every non-printable character is escaped. Credentials
 * embedded in URLs are never printed.
 */
import { describe, expect, it } from 'vitest';
import { printable, redactUrl, safeJson } from '../../lib/cli/escape';

/** Characters a terminal, a log viewer or a bidi-aware editor acts on. */
const HOSTILE = [
  ['ESC (CSI clear screen)', '\u001b[2J', '\\x1b[2J'],
  ['CR (overwrite the row)', 'a\rb', 'a\\rb'],
  ['LF (forge a row)', 'a\nb', 'a\\nb'],
  ['TAB (forge a column)', 'a\tb', 'a\\tb'],
  ['NUL', 'a\u0000b', 'a\\x00b'],
  ['DEL', 'a\u007fb', 'a\\x7fb'],
  ['C1 CSI', 'a\u009b2Jb', 'a\\x9b2Jb'],
  ['U+2028', 'a\u2028b', 'a\\u2028b'],
  ['U+2029', 'a\u2029b', 'a\\u2029b'],
  ['RLO (Trojan Source)', 'a\u202eb', 'a\\u202eb'],
  ['zero-width space', 'a\u200bb', 'a\\u200bb'],
  ['lone surrogate', 'a\ud800b', 'a\\ud800b'],
  ['tag character', 'a\u{e0041}b', 'a\\u{e0041}b'],
  ['backslash (so escapes stay unambiguous)', 'a\\x1b', 'a\\\\x1b'],
] as const;

describe('printable', () => {
  it.each(HOSTILE)('escapes %s', (_name, input, expected) => {
    expect(printable(input)).toBe(expected);
  });

  it('keeps printable text, including non-ASCII letters and emoji', () => {
    expect(printable('orders/node-a 10.0.0.5:8080 {"zone":"é"} 🚀 東京')).toBe(
      'orders/node-a 10.0.0.5:8080 {"zone":"é"} 🚀 東京',
    );
  });

  it('leaves nothing a terminal acts on', () => {
    let all = '';
    for (let c = 0; c < 0x3000; c++) all += String.fromCharCode(c);
    // eslint-disable-next-line no-control-regex
    expect(printable(all)).not.toMatch(
      /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]/,
    );
  });
});

describe('safeJson', () => {
  it('is JSON that parses back to the same value, with every hostile character escaped', () => {
    const value = { key: HOSTILE.map(h => h[1]).join('|'), meta: { '\u001b': '\u2028' } };
    const text = safeJson(value);
    expect(JSON.parse(text)).toEqual(value);
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202e\u200b]/);
    expect(text).not.toMatch(/[\ud800-\udfff]/);
  });
});

describe('safeJson, indented', () => {
  it('keeps the line breaks of the indentation', () => {
    const value = { a: ['x\n\u001b', 1] };
    expect(safeJson(value, 2)).toBe('{\n  "a": [\n    "x\\n\\u001b",\n    1\n  ]\n}');
    expect(JSON.parse(safeJson(value, 2))).toEqual(value);
  });
});

describe('redactUrl', () => {
  it.each([
    ['http://user:pw@host:2379', 'http://user:***@host:2379'],
    ['https://u:p@ss:w0rd@h:1/x', 'https://u:***@h:1/x'],
    ['user:pw@h:1', 'user:***@h:1'],
    ['http://u:pw@[bad', 'http://u:***@[bad'],
    ['http://:pw@h', 'http://:***@h'],
    ['http://user@h', 'http://user@h'],
    ['http://h:2379', 'http://h:2379'],
    ['h:2379', 'h:2379'],
  ])('%s -> %s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected);
  });
});
