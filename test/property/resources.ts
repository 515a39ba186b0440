/**
 * Resource accounting for property and leak tests: what keeps the event loop
 * alive (`process.getActiveResourcesInfo()`, ref'd handles only) and the open file
 * descriptors and sockets of the process (`/proc/self/fd`, which also sees
 * unref'd sockets such as grpc-js connections).
 */
import { readdirSync, readlinkSync } from 'node:fs';

/** Count of each resource kind, e.g. `{ TCPSocketWrap: 2, Timeout: 1, 'fd:socket': 14 }`. */
export function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) {
    counts[kind] = (counts[kind] ?? 0) + 1;
  }
  const fds = fdCounts();
  if (fds) {
    counts['fd:socket'] = fds.sockets;
  }
  return counts;
}

/** Open fds and how many are sockets, from `/proc/self/fd`; undefined without procfs. */
export function fdCounts(): { fds: number; sockets: number } | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc/self/fd');
  } catch {
    return undefined;
  }
  let sockets = 0;
  for (const fd of entries) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) {
        sockets++;
      }
    } catch {
      // closed between readdir and readlink (including readdir's own fd)
    }
  }
  return { fds: entries.length, sockets };
}

/** Kinds whose count in `now` exceeds `baseline`, with the excess. Empty when nothing leaked. */
export function excessResources(
  baseline: Record<string, number>,
  now = activeResources(),
): Record<string, number> {
  const excess: Record<string, number> = {};
  for (const [kind, n] of Object.entries(now)) {
    if (n > (baseline[kind] ?? 0)) {
      excess[kind] = n - (baseline[kind] ?? 0);
    }
  }
  return excess;
}

/**
 * Polls until no resource kind exceeds `baseline`, at most `timeoutMs` (sockets are
 * released a few event-loop turns after `close()`). Resolves to the excess left
 * (empty = clean).
 */
export async function settleResources(
  baseline: Record<string, number>,
  timeoutMs = 2000,
): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const excess = excessResources(baseline);
    if (Object.keys(excess).length === 0 || Date.now() >= deadline) {
      return excess;
    }
    await new Promise(resolve => setTimeout(resolve, 20));
  }
}
