/** Helpers shared by the security integration tests. */
import * as https from 'node:https';
import * as net from 'node:net';
import type { EtcdMember } from '../../lib/testing';

/** Runs `fn`, returning its outcome and how long it took (ms); never throws. */
export async function outcome<T>(
  fn: () => PromiseLike<T>,
): Promise<{ value?: T; error?: any; ms: number }> {
  const start = performance.now();
  try {
    const value = await fn();
    return { value, ms: performance.now() - start };
  } catch (error) {
    return { error, ms: performance.now() - start };
  }
}

/** The error's message plus its cause chain (at most 5 deep), for assertions on wording. */
export function fullMessage(err: unknown): string {
  const parts: string[] = [];
  let e: any = err;
  for (let i = 0; e && i < 5; i++, e = e.cause ?? e.lastCause) {
    parts.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  }
  return parts.join(' <- ');
}

/**
 * A health check for an https member whose certificate names `servername` instead
 * of 127.0.0.1 (the default check would fail host name verification).
 */
export function healthCheckAs(ca: Buffer, servername: string): (m: EtcdMember) => Promise<boolean> {
  return m =>
    new Promise(resolve => {
      const req = https.get(
        `${m.clientUrl}/health`,
        { ca, servername, agent: false, timeout: 1000 },
        res => {
          let body = '';
          res.on('data', d => (body += d));
          res.on('end', () => resolve(body.includes('"true"')));
          res.on('error', () => resolve(false));
        },
      );
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
    });
}

/** A TCP server on 127.0.0.1 that records the first bytes of every connection and answers nothing. */
export interface Recorder {
  readonly port: number;
  /** First up to 64 bytes received on each connection, in order. */
  readonly firstBytes: Buffer[];
  /** Everything received, all connections concatenated. */
  all(): Buffer;
  close(): Promise<void>;
}

/** Starts a {@link Recorder}. */
export async function startRecorder(): Promise<Recorder> {
  const chunks: Buffer[] = [];
  const firstBytes: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer(socket => {
    sockets.add(socket);
    let first: Buffer | undefined;
    socket.on('data', d => {
      chunks.push(d);
      if (!first) {
        first = d.subarray(0, 64);
        firstBytes.push(first);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    firstBytes,
    all: () => Buffer.concat(chunks),
    close: () =>
      new Promise<void>(resolve => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
