/**
 * The `etcd3-resilient` command line: `doctor` and `services`.
 * `bin/etcd3-resilient.js` calls {@link run}.
 */
import { UsageError } from './args';
import { DOCTOR_USAGE, runDoctor } from './doctor';
import { processIo, type Io } from './io';
import { runServices, SERVICES_USAGE } from './services';

/** Top-level usage. */
export const USAGE = `Usage: etcd3-resilient <command> [options]

Commands:
  doctor     check etcd endpoints: reachability, TLS, auth, latency, leader, members,
             version, keepalive acceptance; prints a FIX for each problem
  services   list (or --watch) the service instances registered in etcd

Run \`etcd3-resilient <command> --help\` for the options of a command.`;

/**
 * Runs the CLI with `argv` (without node and the script) and returns the exit code:
 * 0 ok, 1 unhealthy or failed, 2 bad usage. Never throws.
 */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'doctor':
        return await runDoctor(rest, io);
      case 'services':
        return await runServices(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (
      err instanceof UsageError ||
      (err as { code?: string })?.code === 'ERESILIENT_INVALID_OPTION'
    ) {
      const usage =
        command === 'doctor' ? DOCTOR_USAGE : command === 'services' ? SERVICES_USAGE : USAGE;
      io.err(`error: ${(err as Error).message}\n\n${usage}\n`);
      return 2;
    }
    io.err(`error: ${String((err as Error)?.stack ?? err)}\n`);
    return 1;
  }
}

/** Entry point of the bin: runs {@link main} on `process.argv` and exits with its code. */
export function run(): void {
  main(process.argv.slice(2)).then(code => {
    // Let stdout drain, then exit: gRPC channels must not keep the process alive.
    process.stdout.write('', () => process.exit(code));
  });
}

if (require.main === module) {
  run();
}
