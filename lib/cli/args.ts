/**
 * A tiny argv parser for the CLI (no dependencies): `--name value`, `--name=value`,
 * boolean flags, and positionals.
 */

/** Parsed command line. */
export interface ParsedArgs {
  readonly positionals: string[];
  readonly flags: Map<string, string | true>;
}

/** A command-line mistake; the CLI prints it with the usage and exits with 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Parses `argv` (without node and the script). `booleans` lists flags that take
 * no value; every other `--flag` takes one. Unknown flags throw {@link UsageError}.
 */
export function parseArgs(
  argv: readonly string[],
  valued: readonly string[],
  booleans: readonly string[],
): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (booleans.includes(name)) {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else if (valued.includes(name)) {
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined || (eq === -1 && value.startsWith('--'))) {
        throw new UsageError(`--${name} needs a value`);
      }
      flags.set(name, value);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { positionals, flags };
}

/** The string value of `--name`, or undefined. */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** A positive integer flag (ms and the like), or `def`. */
export function intFlag(args: ParsedArgs, name: string, def: number, min = 1): number {
  const v = stringFlag(args, name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/** Splits `--endpoints a,b` into URLs, adding `http://` where no scheme is given. */
export function endpointsFlag(args: ParsedArgs): string[] {
  const raw = stringFlag(args, 'endpoints') ?? (process.env.ETCD_ENDPOINTS || '127.0.0.1:2379');
  const list = raw
    .split(',')
    .map(s => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw new UsageError('--endpoints is empty');
  return list.map(e => (/^[a-z]+:\/\//i.test(e) ? e : `http://${e}`).replace(/\/$/, ''));
}
