/** Helpers shared by the discovery and resolver unit tests. */
import type { Discovery } from '../../lib/discovery/discovery';
import type { Logger } from '../../lib/logger';

/** Polls `cond` every few ms (real time) until it holds; throws after `timeoutMs`. */
export async function until(
  cond: () => boolean,
  timeoutMs = 2000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise(r => setTimeout(r, 2));
  }
}

/** A logger that records `[level, obj, msg]` for every call. */
export function captureLogger(): Logger & { lines: Array<[string, unknown, string | undefined]> } {
  const lines: Array<[string, unknown, string | undefined]> = [];
  const at = (level: string) => (obj: unknown, msg?: string) => {
    lines.push([level, obj, typeof obj === 'string' ? obj : msg]);
  };
  const logger: any = {
    lines,
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    trace: at('trace'),
  };
  logger.child = () => logger;
  return logger;
}

/** Records every change a discovery emits as `added:id=addr` strings, in order. */
export function recordChanges(d: Discovery): string[] {
  const log: string[] = [];
  d.onAdded(i => log.push(`added:${i.id}=${i.addr}`));
  d.onUpdated(u => log.push(`updated:${u.instance.id}=${u.instance.addr}`));
  d.onRemoved(i => log.push(`removed:${i.id}=${i.addr}`));
  return log;
}

/** Applies recorded changes to an empty map: what a consumer that only follows events would believe. */
export function replay(changes: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const c of changes) {
    const colon = c.indexOf(':');
    const type = c.slice(0, colon);
    const rest = c.slice(colon + 1);
    const eq = rest.indexOf('=');
    const id = rest.slice(0, eq);
    if (type === 'removed') {
      if (!m.delete(id)) throw new Error(`removed ${id} that was not present`);
    } else {
      if (type === 'added' && m.has(id)) throw new Error(`added ${id} twice`);
      if (type === 'updated' && !m.has(id)) throw new Error(`updated ${id} that was not present`);
      m.set(id, rest.slice(eq + 1));
    }
  }
  return m;
}
