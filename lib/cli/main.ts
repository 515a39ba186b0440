/**
 * The `etcd3-resilient` command line: `doctor` and `services`.
 * `bin/etcd3-resilient.js` calls {@link run}.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describeError } from '../policy/describe-error';
import { parseCommand, TOP_OPTIONS, UsageError } from './args';
import { DOCTOR_USAGE, runDoctor } from './doctor';
import { printable } from './escape';
import { processIo, type Io } from './io';
import { runServices, SERVICES_USAGE } from './services';

/** Top-level usage. */
export const USAGE = `Usage: etcd3-resilient <command> [options]
       etcd3-resilient --version | --help

Commands:
  doctor     check etcd endpoints: reachability, TLS, auth, latency, leader, members,
             version (add --keepalive for the 22 s keepalive acceptance check);
             prints a FIX for each problem
  services   list (or -w, --watch) the service instances registered in etcd
  help [command]   print the usage of the tool or of a command

Run \`etcd3-resilient <command> --help\` for the options of a command.
Exit codes: 0 ok, 1 unhealthy or failed, 2 bad usage.`;

const USAGES: Record<string, string> = { doctor: DOCTOR_USAGE, services: SERVICES_USAGE };

/** Version of the installed package (from its package.json, found upwards from here). */
export function packageVersion(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'etcd3-resilient' && pkg.version) return pkg.version;
    } catch {
      // not here: look further up
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}

/**
 * Wraps `io` so nothing non-printable reaches the terminal: every line is passed
 * through {@link printable} (text from etcd, e.g. server error messages and
 * member names, can hold ESC or CR). Line breaks and the table's tabs stay; the
 * commands escape tabs inside fields themselves.
 */
function safeIo(io: Io): Io {
  const clean = (text: string) =>
    text
      .split('\n')
      .map(line =>
        line
          .split('\t')
          .map(field => printable(field, false))
          .join('\t'),
      )
      .join('\n');
  return { out: text => io.out(clean(text)), err: text => io.err(clean(text)) };
}

/**
 * Runs the CLI with `argv` (without node and the script) and returns the exit code:
 * 0 ok, 1 unhealthy or failed, 2 bad usage (usage on stderr). Help and version
 * touch no network. Never throws.
 */
export async function main(rawArgv: readonly string[], rawIo: Io = processIo): Promise<number> {
  const io = safeIo(rawIo);
  const argv = readArgv(rawArgv);
  if (!argv) {
    io.err(`error: argv must be an array of strings\n\n${USAGE}\n`);
    return 2;
  }
  const commandAt = argv.findIndex(a => !a.startsWith('-'));
  const command = commandAt === -1 ? undefined : argv[commandAt];
  try {
    if (command === 'doctor' || command === 'services') {
      const before = parseCommand(argv.slice(0, commandAt), TOP_OPTIONS, 0);
      if (before.flags.has('help') || before.flags.has('version')) {
        io.out(`${before.flags.has('version') ? packageVersion() : USAGES[command]}\n`);
        return 0;
      }
      const rest = argv.slice(commandAt + 1);
      return command === 'doctor' ? await runDoctor(rest, io) : await runServices(rest, io);
    }
    const top = parseCommand(argv, TOP_OPTIONS, 2);
    if (top.flags.has('version')) {
      io.out(`${packageVersion()}\n`);
      return 0;
    }
    const [first, topic] = top.positionals;
    if (first === 'help' && (topic === undefined || USAGES[topic])) {
      io.out(`${topic ? USAGES[topic] : USAGE}\n`);
      return 0;
    }
    if (first === undefined && top.flags.has('help')) {
      io.out(`${USAGE}\n`);
      return 0;
    }
    if (first === undefined) throw new UsageError('no command given');
    throw new UsageError(`unknown command "${first === 'help' ? topic : first}"`);
  } catch (err) {
    if (
      err instanceof UsageError ||
      (err as { code?: string })?.code === 'ERESILIENT_INVALID_OPTION'
    ) {
      const usage = (command && USAGES[command]) || USAGE;
      io.err(`error: ${(err as Error).message}\n\n${usage}\n`);
      return 2;
    }
    io.err(`error: ${describeError(err)}\n`);
    return 1;
  }
}

/** A copy of `argv` if it is an array of strings, read once; else undefined. Never throws. */
function readArgv(argv: unknown): string[] | undefined {
  try {
    if (!Array.isArray(argv)) {
      return undefined;
    }
    const copy: unknown[] = [...argv];
    return copy.every(a => typeof a === 'string') ? (copy as string[]) : undefined;
  } catch {
    return undefined;
  }
}

/** Entry point of the bin: runs {@link main} on `process.argv` and exits with its code. */
export function run(): void {
  void main(process.argv.slice(2)).then(code => {
    // Let stdout drain, then exit: gRPC channels must not keep the process alive.
    process.stdout.write('', () => process.exit(code));
  });
}

if (require.main === module) {
  run();
}
