/**
 * Making text safe to print. Keys, values, member names and error messages come
 * from etcd, so anyone who can write a key could otherwise drive the operator's
 * terminal (ESC sequences, CR to overwrite a row, bidi overrides to reorder it)
 * or forge rows and columns (LF, TAB).
 */

/**
 * Characters escaped by {@link printable}: controls (C0, DEL, C1), format
 * characters (bidi overrides, zero-width), line and paragraph separators,
 * surrogates without a pair, private-use and unassigned code points, and the
 * backslash itself (so an escape in the output is always ours).
 */
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}\\]/gu;

const NON_PRINTABLE_ONLY = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}]/gu;

const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

function escapeChar(c: string): string {
  const short = SHORT[c];
  if (short) return short;
  const cp = c.codePointAt(0)!;
  if (cp <= 0xff) return `\\x${hex(cp, 2)}`;
  if (cp <= 0xffff) return `\\u${hex(cp, 4)}`;
  return `\\u{${hex(cp, 5)}}`;
}

/**
 * `text` with every non-printable character escaped (`\x1b`, `\r`, `\u2028`,
 * `\u{e0041}`, `\\`): one line that shows exactly what is stored.
 *
 * @param backslash also escape `\` (default true), so the output is unambiguous.
 *   The CLI's last line of defence passes false: text there is already escaped.
 */
export const printable = (text: string, backslash = true): string =>
  text.replace(backslash ? NON_PRINTABLE : NON_PRINTABLE_ONLY, escapeChar);

/**
 * Characters JSON.stringify leaves raw that terminals or JavaScript parsers act on.
 * Not LF: inside strings JSON.stringify always escapes it, outside it is the
 * indentation of `space`.
 */
const JSON_UNSAFE = /(?!\n)[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}]/gu;

const jsonEscape = (c: string): string => {
  let out = '';
  for (let i = 0; i < c.length; i++) out += `\\u${hex(c.charCodeAt(i), 4)}`;
  return out;
};

/**
 * `JSON.stringify(value)` with every non-printable character inside strings
 * written as `\uXXXX`: still valid JSON that parses to the same value, but safe
 * to print (JSON.stringify leaves DEL, C1 controls, U+2028/2029 and bidi
 * overrides raw). Outside strings, JSON has only printable ASCII.
 */
export const safeJson = (value: unknown, space?: number): string =>
  JSON.stringify(value, null, space).replace(JSON_UNSAFE, jsonEscape);

/**
 * `url` with the password of embedded credentials replaced by `***`
 * (`http://user:pw@host` → `http://user:***@host`). Works on strings that do
 * not parse as URLs too, so error messages about them are safe.
 */
export function redactUrl(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0] ?? '';
  const rest = url.slice(scheme.length);
  // The last '@' anywhere, not only in the authority: a password holding '/' must
  // not leak either (endpoints have no path, so over-redacting costs nothing).
  const at = rest.lastIndexOf('@');
  if (at === -1) return url;
  const userinfo = rest.slice(0, at);
  const colon = userinfo.indexOf(':');
  if (colon === -1) return url;
  return `${scheme}${userinfo.slice(0, colon)}:***${rest.slice(at)}`;
}
