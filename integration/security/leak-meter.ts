/**
 * Process resource figures for leak tests and the soak script: open fds, socket
 * fds, ref'd handles by kind, and heap after a full garbage collection.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { activeResources, fdCounts } from '../../test/property/resources';

/** One measurement. */
export interface Figures {
  /** Open file descriptors (`/proc/self/fd`), -1 without procfs. */
  fds: number;
  /** Of which sockets. */
  sockets: number;
  /** Ref'd handles keeping the loop alive, by kind (`Timeout`, `TCPSocketWrap`, ...). */
  handles: Record<string, number>;
  /** `heapUsed` after a full GC, bytes. */
  heapUsed: number;
}

let gcFn: (() => void) | undefined;

/**
 * A full, synchronous garbage collection: `global.gc` when the process runs with
 * `--expose-gc`, else enabled at run time through V8 flags (the function is
 * fetched from a fresh context, where V8 installs it once the flag is set).
 */
export function forceGc(): void {
  if (!gcFn) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (g) {
      gcFn = g;
    } else {
      setFlagsFromString('--expose_gc');
      gcFn = runInNewContext('gc') as () => void;
    }
  }
  // Twice: the first pass runs finalizers that free more on the second.
  gcFn();
  gcFn();
}

/** Measures now, after a full GC. */
export function measure(): Figures {
  forceGc();
  const fd = fdCounts();
  const handles = activeResources();
  delete handles['fd:socket'];
  return {
    fds: fd?.fds ?? -1,
    sockets: fd?.sockets ?? -1,
    handles,
    heapUsed: process.memoryUsage().heapUsed,
  };
}

/** `12.3 MB` */
export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** One line of figures for logs. */
export const describeFigures = (f: Figures) =>
  `fds ${f.fds}, sockets ${f.sockets}, heap ${mb(f.heapUsed)}, handles ${JSON.stringify(f.handles)}`;

/**
 * Polls until fds, sockets and handles are back at `baseline` and no TCP
 * connection to any of `ports` is open, at most `timeoutMs`. grpc-js keeps the
 * connection of a closed channel in its global subchannel pool until its next
 * sweep, up to 10 s later, so allow more than that. Resolves to the last
 * measurement and the connections still open.
 */
export async function settleTo(
  baseline: Figures,
  timeoutMs: number,
  ports: number[] = [],
): Promise<Figures & { connections: string[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = measure();
    const connections = connectionsTo(ports);
    const handlesBack = Object.entries(now.handles).every(
      ([k, n]) => n <= (baseline.handles[k] ?? 0),
    );
    const back =
      now.fds <= baseline.fds &&
      now.sockets <= baseline.sockets &&
      handlesBack &&
      connections.length === 0;
    if (back || Date.now() >= deadline) {
      return { ...now, connections };
    }
    await new Promise(resolve => setTimeout(resolve, 250));
  }
}

/** Open TCP connections of this process to 127.0.0.1 on any of `ports`. */
export function connectionsTo(ports: number[]): string[] {
  return socketDetails().filter(s => ports.some(p => s.includes(` -> 127.0.0.1:${p} `)));
}

/**
 * The process's socket fds with what they connect (from `/proc/net/{tcp,tcp6,unix}`):
 * `tcp 127.0.0.1:40000 -> 127.0.0.1:2379 (01)`, for telling a leaked connection
 * from the test's own sockets. Empty without procfs.
 */
export function socketDetails(): string[] {
  const inodes = new Map<string, string>();
  try {
    for (const fd of readdirSync('/proc/self/fd')) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
        if (m) inodes.set(m[1]!, fd);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return [];
  }
  const found = new Map<string, string>();
  const hexAddr = (h: string) => {
    const [ip, port] = h.split(':') as [string, string];
    const addr =
      ip.length === 8
        ? ip
            .match(/../g)!
            .reverse()
            .map(b => parseInt(b, 16))
            .join('.')
        : `[${ip}]`;
    return `${addr}:${parseInt(port, 16)}`;
  };
  for (const proto of ['tcp', 'tcp6'] as const) {
    try {
      for (const line of readFileSync(`/proc/net/${proto}`, 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length > 9 && inodes.has(f[9]!))
          found.set(f[9]!, `${proto} ${hexAddr(f[1]!)} -> ${hexAddr(f[2]!)} (state ${f[3]})`);
      }
    } catch {
      // no such table
    }
  }
  return [...inodes].map(
    ([inode, fd]) => `fd ${fd}: ${found.get(inode) ?? `socket inode ${inode} (unix or other)`}`,
  );
}
