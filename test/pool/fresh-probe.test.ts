import * as net from 'node:net';
import { credentials } from '@grpc/grpc-js';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { freshConnection } from '../../lib/pool/fresh-probe';
import { advance, fakeClock, realSleep, settled, track } from '../fakes/pool-harness';

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
