/**
 * Loopback port helpers for tests.
 */
import * as net from 'node:net';

/**
 * Returns a TCP port on 127.0.0.1 that was free a moment ago: the OS picks it
 * (listen on port 0), then the listener is closed. Another process may take it
 * before you bind it, so callers that bind later must be ready to retry.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(err => (err ? reject(err) : resolve(port)));
    });
  });
}

/** True when nothing listens on 127.0.0.1:`port` and it can be bound right now. */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/**
 * Returns `count` distinct free ports on 127.0.0.1, all held open at once while
 * picking so the OS cannot hand out the same port twice. Same race caveat as
 * {@link freePort}.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      server.unref();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve());
      });
    }
    return servers.map(s => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map(s => new Promise<void>(resolve => s.close(() => resolve()))));
  }
}
