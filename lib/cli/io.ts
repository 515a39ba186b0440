/**
 * Where the CLI writes, so tests can capture it.
 */

/** Output streams of the CLI. */
export interface Io {
  /** Results (stdout). */
  out(text: string): void;
  /** Progress and errors (stderr). */
  err(text: string): void;
}

/** The process's stdout and stderr. */
export const processIo: Io = {
  out: text => void process.stdout.write(text),
  err: text => void process.stderr.write(text),
};
