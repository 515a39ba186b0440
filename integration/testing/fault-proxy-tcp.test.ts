/**
 * Fault proxy semantics at the byte level, against a plain TCP server on
 * 127.0.0.1: which bytes pass, which are dropped (and never replayed), that a
 * blackhole sends no FIN/RST, ordering under delay, refuse/reset/close.
 */
import * as net from 'node:net';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { InvalidOptionError } from '../../lib/errors';
import { startProxy, type FaultProxy } from '../../lib/testing';

/** A TCP server recording what each accepted socket received and whether it saw end/close. */
class Recorder {
  readonly sockets: { socket: net.Socket; data: string; ended: boolean; closed: boolean }[] = [];
  readonly server = net.createServer({ allowHalfOpen: true }, socket => {
    const entry = { socket, data: '', ended: false, closed: false };
    this.sockets.push(entry);
    socket.setEncoding('utf8');
    socket.on('data', d => (entry.data += d));
    socket.on('end', () => (entry.ended = true));
    socket.on('close', () => (entry.closed = true));
    socket.on('error', () => undefined);
  });
  async listen(): Promise<string> {
    await new Promise<void>(resolve => this.server.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }
  close(): Promise<void> {
    for (const s of this.sockets) s.socket.destroy();
    return new Promise(resolve => this.server.close(() => resolve()));
  }
}

/** A client socket with its received data, end and error. */
async function connect(port: number) {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  const state = { socket, data: '', ended: false, closed: false, error: undefined as any };
  socket.setEncoding('utf8');
  socket.on('data', d => (state.data += d));
  socket.on('end', () => (state.ended = true));
  socket.on('close', () => (state.closed = true));
  socket.on('error', err => (state.error = err));
  await new Promise<void>(resolve => {
    socket.once('connect', () => resolve());
    socket.once('close', () => resolve());
  });
  return state;
}

/** Polls `cond` every 5 ms for at most `ms`; resolves to its final value. */
async function eventually(cond: () => boolean, ms = 2000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise(r => setTimeout(r, 5));
  return cond();
}
/** Waits `ms` (for "nothing happens" checks: a pass here cannot be a false failure). */
const quiet = (ms = 150) => new Promise(r => setTimeout(r, ms));

let rec: Recorder;
let proxy: FaultProxy;
beforeEach(async () => {
  rec = new Recorder();
  proxy = await startProxy({ target: await rec.listen() });
});
afterEach(async () => {
  await proxy.close();
  await rec.close();
});

describe('fault proxy (TCP level)', () => {
  test('pass forwards both ways and reports endpoint/target/connectionCount', async () => {
    expect(proxy.endpoint).toBe(`http://127.0.0.1:${proxy.port}`);
    expect(proxy.target).toBe(`127.0.0.1:${(rec.server.address() as net.AddressInfo).port}`);
    const c = await connect(proxy.port);
    c.socket.write('ping');
    expect(await eventually(() => rec.sockets[0]?.data === 'ping')).toBe(true);
    rec.sockets[0]!.socket.write('pong');
    expect(await eventually(() => c.data === 'pong')).toBe(true);
    expect(proxy.connectionCount).toBe(1);
    c.socket.end();
    expect(await eventually(() => rec.sockets[0]!.ended)).toBe(true);
    rec.sockets[0]!.socket.end();
    expect(await eventually(() => proxy.connectionCount === 0)).toBe(true);
  });

  test("blackhole('toServer') drops client bytes but still delivers server bytes", async () => {
    const c = await connect(proxy.port);
    await eventually(() => rec.sockets.length === 1);
    proxy.blackhole('toServer');
    c.socket.write('lost');
    rec.sockets[0]!.socket.write('kept');
    expect(await eventually(() => c.data === 'kept')).toBe(true);
    await quiet();
    expect(rec.sockets[0]!.data).toBe('');
  });

  test("blackhole('toClient') drops server bytes but still delivers client bytes", async () => {
    const c = await connect(proxy.port);
    await eventually(() => rec.sockets.length === 1);
    proxy.blackhole('toClient');
    rec.sockets[0]!.socket.write('lost');
    c.socket.write('kept');
    expect(await eventually(() => rec.sockets[0]!.data === 'kept')).toBe(true);
    await quiet();
    expect(c.data).toBe('');
  });

  test('blackhole sends no FIN/RST either way, and dropped bytes are never replayed', async () => {
    const c = await connect(proxy.port);
    await eventually(() => rec.sockets.length === 1);
    const server = rec.sockets[0]!;
    proxy.blackhole();
    c.socket.write('dropped-1');
    server.socket.write('dropped-2');
    server.socket.destroy(); // the server side dies...
    await quiet();
    // ...and the client notices nothing: no data, no FIN, no RST.
    expect({ data: c.data, ended: c.ended, closed: c.closed, error: c.error }).toEqual({
      data: '',
      ended: false,
      closed: false,
      error: undefined,
    });
    expect(proxy.connectionCount).toBe(1);
    expect(server.data).toBe('');
    // Healing reveals the dead peer: the swallowed FIN is delivered now.
    proxy.pass();
    expect(await eventually(() => c.ended)).toBe(true);
    expect(c.data).toBe('');
  });

  test('new connections pass normally while existing ones are blackholed (half-open flush)', async () => {
    const old = await connect(proxy.port);
    await eventually(() => rec.sockets.length === 1);
    proxy.blackhole();
    const fresh = await connect(proxy.port);
    fresh.socket.write('new');
    old.socket.write('old');
    expect(await eventually(() => rec.sockets[1]?.data === 'new')).toBe(true);
    await quiet();
    expect(rec.sockets[0]!.data).toBe('');
  });

  test('blackholeNew accepts but never connects through; pass() connects it, earlier bytes stay lost', async () => {
    proxy.blackholeNew(true);
    const c = await connect(proxy.port);
    c.socket.write('early');
    await quiet();
    expect(c.closed).toBe(false);
    expect(rec.sockets).toHaveLength(0);
    expect(proxy.connectionCount).toBe(1);
    proxy.pass();
    expect(await eventually(() => rec.sockets.length === 1)).toBe(true);
    c.socket.write('late');
    expect(await eventually(() => rec.sockets[0]!.data === 'late')).toBe(true);
  });

  test('refuse makes new connections fail at once and leaves existing ones alone', async () => {
    const old = await connect(proxy.port);
    proxy.refuse(true);
    const c = await connect(proxy.port);
    expect(await eventually(() => c.closed)).toBe(true);
    expect(c.error?.code).toBe('ECONNRESET');
    old.socket.write('still');
    expect(await eventually(() => rec.sockets[0]?.data === 'still')).toBe(true);
    proxy.refuse(false);
    const again = await connect(proxy.port);
    again.socket.write('ok');
    expect(await eventually(() => rec.sockets[1]?.data === 'ok')).toBe(true);
  });

  test('reset destroys every connection with RST on both sides', async () => {
    const c = await connect(proxy.port);
    await eventually(() => rec.sockets.length === 1);
    proxy.reset();
    expect(await eventually(() => c.closed && rec.sockets[0]!.closed)).toBe(true);
    expect(c.error?.code).toBe('ECONNRESET');
    expect(proxy.connectionCount).toBe(0);
  });

  test('delay holds every chunk at least that long and keeps order across delay changes', async () => {
    const c = await connect(proxy.port);
    await eventually(() => rec.sockets.length === 1);
    proxy.delay(200);
    const start = performance.now();
    c.socket.write('a');
    // The proxy runs in this event loop: once a timer fires, the poll phase has read 'a'.
    await quiet(20);
    proxy.delay(0);
    c.socket.write('b');
    expect(await eventually(() => rec.sockets[0]!.data.length === 2)).toBe(true);
    expect(performance.now() - start).toBeGreaterThanOrEqual(199);
    expect(rec.sockets[0]!.data).toBe('ab');
    proxy.delay(100);
    const t = performance.now();
    rec.sockets[0]!.socket.write('z');
    expect(await eventually(() => c.data === 'z')).toBe(true);
    expect(performance.now() - t).toBeGreaterThanOrEqual(99);
  });

  test('retarget sends new connections elsewhere; existing ones keep their target', async () => {
    const other = new Recorder();
    const otherTarget = await other.listen();
    try {
      const before = await connect(proxy.port);
      proxy.retarget(otherTarget);
      expect(proxy.target).toBe(otherTarget);
      const after = await connect(proxy.port);
      before.socket.write('one');
      after.socket.write('two');
      expect(await eventually(() => rec.sockets[0]?.data === 'one')).toBe(true);
      expect(await eventually(() => other.sockets[0]?.data === 'two')).toBe(true);
      expect(rec.sockets).toHaveLength(1);
    } finally {
      await other.close();
    }
  });

  test('a connection to a target that is down is reset', async () => {
    const dead = new Recorder();
    const deadTarget = await dead.listen();
    await dead.close();
    proxy.retarget(deadTarget);
    const c = await connect(proxy.port);
    expect(await eventually(() => c.closed)).toBe(true);
    expect(proxy.connectionCount).toBe(0);
  });

  test('close() destroys connections and stops listening', async () => {
    const c = await connect(proxy.port);
    await proxy.close();
    expect(await eventually(() => c.ended || c.closed)).toBe(true);
    const after = await connect(proxy.port);
    expect(after.error?.code).toBe('ECONNREFUSED');
    await proxy.close(); // idempotent
  });

  test('bad arguments throw InvalidOptionError', async () => {
    await expect(startProxy({ target: 'nonsense' })).rejects.toBeInstanceOf(InvalidOptionError);
    expect(() => proxy.delay(-1)).toThrow(InvalidOptionError);
    expect(() => proxy.retarget('host-without-port')).toThrow(InvalidOptionError);
    expect(() => proxy.blackhole('sideways' as never)).toThrow(InvalidOptionError);
  });

  test('accepts a URL as target and a fixed port', async () => {
    const port = proxy.port;
    await proxy.close();
    proxy = await startProxy({ target: `http://${rec.server.address() && proxy.target}`, port });
    expect(proxy.port).toBe(port);
    const c = await connect(port);
    c.socket.write('x');
    expect(await eventually(() => rec.sockets[0]?.data === 'x')).toBe(true);
  });
});
