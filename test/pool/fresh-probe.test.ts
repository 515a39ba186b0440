import * as net from 'node:net';
import { credentials } from '@grpc/grpc-js';
import { afterEach, describe, expect, test } from 'vitest';
import { freshConnection } from '../../lib/pool/fresh-probe';

/** A TCP server that accepts connections and never says a word (a frozen peer). */
async function silentServer() {
  const sockets = new Set<net.Socket>();
  const server = net.createServer(s => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>(r => server.close(() => r()));
    },
  };
}

describe('freshConnection', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  test("'silent' when the peer accepts but never answers (frozen or too slow)", async () => {
    const s = await silentServer();
    cleanups.push(s.close);
    expect(await freshConnection(s.address, credentials.createInsecure(), {}, 150)).toBe('silent');
  });

  test("'refused', not a throw nor a wait for the timeout, when nothing listens", async () => {
    const s = await silentServer();
    await s.close();
    const start = performance.now();
    expect(await freshConnection(s.address, credentials.createInsecure(), {}, 5000)).toBe(
      'refused',
    );
    // Known at once: not after the 5 s timeout (a bound, not a timing measurement).
    expect(performance.now() - start).toBeLessThan(4000);
  });
});
