/**
 * Keeps the last lines written to a stream, so startup errors can quote them
 * without buffering a process's whole output.
 */
export class StderrRing {
  private readonly lines: string[] = [];
  /** Incomplete last line, not yet terminated by a newline. */
  private partial = '';

  /** @param maxLines lines kept. Defaults to 40. */
  constructor(private readonly maxLines = 40) {}

  /** Appends a chunk of output. */
  push(chunk: string | Buffer): void {
    const text = this.partial + chunk.toString();
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      this.lines.push(line.length > 2000 ? `${line.slice(0, 2000)}…` : line);
      if (this.lines.length > this.maxLines) this.lines.shift();
    }
    if (this.partial.length > 8000) {
      this.push('\n');
    }
  }

  /** Appends a marker line (e.g. "--- restart ---"). */
  mark(text: string): void {
    this.push(`${this.partial ? '\n' : ''}${text}\n`);
  }

  /** The kept lines (and any unterminated one), newline-joined. */
  tail(): string {
    return [...this.lines, ...(this.partial ? [this.partial] : [])].join('\n');
  }

  /** True when the kept output contains `needle`. */
  includes(needle: string): boolean {
    return this.tail().includes(needle);
  }
}
