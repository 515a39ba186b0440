/**
 * Secret hunting for the auth tests: captures every auth token the client puts
 * on the wire, collects everything the library logs, and searches any value
 * (errors with their causes, health snapshots) for a secret.
 */
import { Metadata } from '@grpc/grpc-js';
import pino from 'pino';
import type { Logger } from '../../lib/logger';

/** Records every value set as gRPC `token` metadata, until `restore()`. */
export function captureTokens(): { tokens: Set<string>; restore(): void } {
  const tokens = new Set<string>();
  const original = Metadata.prototype.set;
  Metadata.prototype.set = function set(this: Metadata, key: string, value: any) {
    if (key === 'token' && typeof value === 'string') {
      tokens.add(value);
    }
    return original.call(this, key, value);
  };
  return { tokens, restore: () => void (Metadata.prototype.set = original) };
}

/** A real pino logger at level `trace` writing into memory. */
export function memoryLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
  return { logger: logger as unknown as Logger, lines };
}

/**
 * Every string reachable from `value` (own properties, enumerable or not, errors'
 * message/stack/cause, Buffers as UTF-8), at most `maxDepth` levels deep.
 */
export function reachableText(value: unknown, maxDepth = 6): string {
  const out: string[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown, depth: number) => {
    if (typeof v === 'string') {
      out.push(v);
      return;
    }
    if (typeof v !== 'object' || v === null || depth > maxDepth || seen.has(v)) {
      return;
    }
    seen.add(v);
    if (Buffer.isBuffer(v)) {
      out.push(v.toString('utf8'));
      return;
    }
    if (v instanceof Map) {
      for (const [k, x] of v) {
        walk(k, depth + 1);
        walk(x, depth + 1);
      }
    }
    for (const key of Object.getOwnPropertyNames(v)) {
      out.push(key);
      let x: unknown;
      try {
        x = (v as any)[key];
      } catch {
        continue;
      }
      walk(x, depth + 1);
    }
    if (v instanceof Error) {
      walk(v.message, depth + 1);
      walk(v.stack, depth + 1);
      walk((v as any).cause, depth + 1);
    }
  };
  walk(value, 0);
  return out.join('\n');
}

/** The secrets (of `secrets`) that occur in `text`. */
export const leaked = (text: string, secrets: Iterable<string>): string[] =>
  [...secrets].filter(s => s.length > 0 && text.includes(s));
