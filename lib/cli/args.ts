/**
 * Command-line parsing on `node:util` `parseArgs` in strict mode: `--name value`,
 * `--name=value`, short aliases (`-h`, `-w`), `--` ends the options. An unknown
 * option, a missing value or an extra positional is a {@link UsageError} (exit 2).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { redactUrl } from './escape';
import { MAX_TIMER_DELAY_MS } from '../policy/timer-delay';

/** Option table of a command, as `parseArgs` takes it. */
export type OptionTable = NonNullable<ParseArgsConfig['options']>;

/** Parsed command line. */
export interface ParsedArgs {
  readonly positionals: string[];
  readonly flags: Map<string, string | true>;
}

/** A command-line mistake; the CLI prints it with the usage on stderr and exits with 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Largest delay a Node timer honours (2^31 - 1 ms, ~24.8 days); above it fires after 1 ms. */
export const MAX_TIMER_MS = MAX_TIMER_DELAY_MS;

/** Options every command accepts: connection, `--timeout`, `-h`. */
const CONNECTION_OPTIONS = {
  endpoints: { type: 'string' },
  cacert: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  user: { type: 'string' },
  'password-env': { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionTable;

/** Options of `doctor`. */
export const DOCTOR_OPTIONS = {
  ...CONNECTION_OPTIONS,
  keepalive: { type: 'boolean' },
  'keepalive-time-ms': { type: 'string' },
  'keepalive-check-ms': { type: 'string' },
} as const satisfies OptionTable;

/** Options of `services`. */
export const SERVICES_OPTIONS = {
  ...CONNECTION_OPTIONS,
  prefix: { type: 'string' },
  watch: { type: 'boolean', short: 'w' },
} as const satisfies OptionTable;

/** Options before the command: `etcd3-resilient --version`, `-h`. */
export const TOP_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies OptionTable;

/**
 * Parses `argv` (without node, the script and the command) against `options`;
 * at most `maxPositionals` positionals.
 *
 * @throws UsageError for an unknown option, a missing or ambiguous value, a value
 *   on a boolean, or too many positionals.
 */
export function parseCommand(
  argv: readonly string[],
  options: OptionTable,
  maxPositionals: number,
): ParsedArgs {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (err) {
    // parseArgs quotes the offending argument: redact it (it may be a URL with a password).
    throw new UsageError(redactUrl(String((err as Error).message).replace(/\n/g, ' ')));
  }
  const flags = new Map<string, string | true>();
  for (const [name, value] of Object.entries(parsed.values)) {
    if (typeof value === 'string') flags.set(name, value);
    else if (value === true) flags.set(name, true);
  }
  if (parsed.positionals.length > maxPositionals) {
    const extra = parsed.positionals[maxPositionals]!;
    throw new UsageError(
      maxPositionals === 0
        ? `Unexpected argument '${redactUrl(extra)}': this command takes options only`
        : `Unexpected argument '${redactUrl(extra)}': at most ${maxPositionals} expected`,
    );
  }
  return { positionals: parsed.positionals, flags };
}

/** The string value of `--name`, or undefined. */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

/**
 * An integer flag in ms, `min` ≤ n ≤ {@link MAX_TIMER_MS} (a larger delay would
 * make Node's timer fire after 1 ms), or `def` when absent.
 */
export function intFlag(args: ParsedArgs, name: string, def: number, min = 1): number {
  const v = stringFlag(args, name);
  if (v === undefined) return def;
  const n = /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > MAX_TIMER_MS)
    throw new UsageError(
      `--${name} must be an integer from ${min} to ${MAX_TIMER_MS} (ms), got ${JSON.stringify(v)}`,
    );
  return n;
}

/**
 * Validates one endpoint and returns its normal form: `http://` added when no
 * scheme is given, no trailing slash. Only http(s) URLs with a host, a port in
 * 1–65535 (default 2379), no path and no credentials are accepted; the message
 * of a rejected one never shows a password.
 */
export function endpointUrl(raw: string): string {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  const shown = JSON.stringify(redactUrl(text));
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--endpoints ${shown} is not a valid URL (expected http://host:port)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`--endpoints ${shown}: use http:// or https://`);
  if (url.username || url.password)
    throw new UsageError(
      `--endpoints ${shown}: credentials in the URL are not used; pass --user NAME --password-env VAR`,
    );
  if (!url.hostname) throw new UsageError(`--endpoints ${shown}: no host`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash)
    throw new UsageError(`--endpoints ${shown}: an etcd endpoint has no path, query or fragment`);
  // URL drops a scheme's default port (80, 443): keep it when it was written out.
  const port =
    url.port || (/:\d+\/?$/.test(text) ? (url.protocol === 'https:' ? '443' : '80') : '2379');
  return `${url.protocol}//${url.hostname}:${port}`;
}

/** Splits `--endpoints a,b` (default `$ETCD_ENDPOINTS`, then `127.0.0.1:2379`) into URLs. */
export function endpointsFlag(args: ParsedArgs): string[] {
  const raw = stringFlag(args, 'endpoints') ?? (process.env.ETCD_ENDPOINTS || '127.0.0.1:2379');
  const list = raw
    .split(',')
    .map(s => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw new UsageError('--endpoints is empty');
  return list.map(endpointUrl);
}
