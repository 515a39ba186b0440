import * as http2 from 'node:http2';
import * as net from 'node:net';
import { credentials } from '@grpc/grpc-js';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { freshConnection, freshHandshake } from '../../lib/pool/fresh-probe';
import { advance, fakeClock, realSleep, settled, track, waitUntil } from '../fakes/pool-harness';

/** A TCP server that accepts connections and never says a word (a frozen peer). */
async function silentServer() {
  const sockets = new Set<net.Socket>();
  const server = net.createServer(s => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    s.resume(); // reads (and drops) what comes, so that it sees the client close
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    /** Connections open now. */
    open: () => sockets.size,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>(r => server.close(() => r()));
    },
  };
}

describe('freshConnection', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    vi.useRealTimers();
    for (const c of cleanups.splice(0)) await c();
  });

  test("'silent' when the peer accepts but never answers (frozen or too slow)", async () => {
    const s = await silentServer();
    cleanups.push(s.close);
    fakeClock();
    const probe = track(freshConnection(s.address, credentials.createInsecure(), {}, 150));
    await advance(149);
    await realSleep(20);
    expect(probe.settled).toBe(false); // it waits out its timeout...
    await vi.advanceTimersByTimeAsync(1);
    expect((await settled(probe)).value).toBe('silent'); // ...and no longer
  });

  test("'refused', not a throw nor a wait for the timeout, when nothing listens", async () => {
    const s = await silentServer();
    await s.close();
    // Known at once: it resolves with the clock stopped, so not from its 5 s timeout.
    fakeClock();
    const probe = track(freshConnection(s.address, credentials.createInsecure(), {}, 5000));
    expect((await settled(probe)).value).toBe('refused');
  });
});

describe('freshHandshake', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    vi.useRealTimers();
    for (const c of cleanups.splice(0)) await c();
  });

  test("'answered' once the server's HTTP/2 SETTINGS arrive; the connection is closed after", async () => {
    const server = http2.createServer();
    const open = new Set<net.Socket>();
    server.on('connection', (s: net.Socket) => {
      open.add(s);
      s.on('close', () => open.delete(s));
    });
    await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>(r => server.close(() => r())));
    const port = (server.address() as net.AddressInfo).port;
    fakeClock(); // settles with the clock stopped: from the handshake, not the timeout
    const probe = track(
      freshHandshake(`127.0.0.1:${port}`, credentials.createInsecure(), {}, 5000),
    );
    expect((await settled(probe)).value).toBe('answered');
    await waitUntil(() => open.size === 0, 'the probe connection closed');
  });

  test("'silent' at its timeout into a peer that never answers, and it holds no connection after", async () => {
    const s = await silentServer();
    cleanups.push(s.close);
    fakeClock();
    const probe = track(freshHandshake(s.address, credentials.createInsecure(), {}, 150));
    await waitUntil(() => s.open() === 1, 'the probe connected');
    await advance(149);
    expect(probe.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((await settled(probe)).value).toBe('silent');
    // A grpc-js channel closed mid-connect would keep this socket open (grpc-js 1.14).
    await waitUntil(() => s.open() === 0, 'the probe connection closed');
  });

  test("'refused' at once when nothing listens, or the TLS handshake fails", async () => {
    const s = await silentServer();
    await s.close();
    fakeClock();
    const refused = track(freshHandshake(s.address, credentials.createInsecure(), {}, 5000));
    expect((await settled(refused)).value).toBe('refused');

    // A TLS client against a plaintext HTTP/2 server: the server drops the ClientHello.
    vi.useRealTimers();
    const server = http2.createServer();
    await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>(r => server.close(() => r())));
    const port = (server.address() as net.AddressInfo).port;
    fakeClock();
    const tls = track(freshHandshake(`127.0.0.1:${port}`, credentials.createSsl(), {}, 5000));
    expect((await settled(tls)).value).toBe('refused');
  });
});
