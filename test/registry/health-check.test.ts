import * as net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  HealthMonitor,
  resolveHealthCheck,
  runHealthCheck,
  type HealthResult,
} from '../../lib/registry/health-check';

const servers: net.Server[] = [];
async function listen(
  onConnection: (s: net.Socket) => void = s => s.destroy(),
): Promise<{ server: net.Server; addr: string }> {
  const server = net.createServer(onConnection);
  servers.push(server);
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return { server, addr: `127.0.0.1:${(server.address() as net.AddressInfo).port}` };
}
const close = (server: net.Server) => new Promise<void>(resolve => server.close(() => resolve()));

afterEach(async () => {
  await Promise.all(servers.splice(0).map(s => (s.listening ? close(s) : undefined)));
});

describe('health checks', () => {
  it('defaults to a TCP check of addr, every 5 s with a 1 s deadline', () => {
    expect(resolveHealthCheck({}, '10.0.0.5:80')).toEqual({
      tcp: '10.0.0.5:80',
      fn: undefined,
      intervalMs: 5000,
      timeoutMs: 1000,
    });
    const fn = () => true;
    expect(resolveHealthCheck({ fn }, '10.0.0.5:80').tcp).toBeUndefined();
    expect(resolveHealthCheck({ fn, tcp: '10.0.0.6:81' }, '10.0.0.5:80').tcp).toBe('10.0.0.6:81');
  });

  it('TCP: passes while something listens, fails with the reason once the listener is closed', async () => {
    const { server, addr } = await listen();
    const check = resolveHealthCheck({ timeoutMs: 500 }, addr);
    expect(await runHealthCheck(check)).toEqual({ healthy: true });
    await close(server);
    const r = await runHealthCheck(check);
    expect(r.healthy).toBe(false);
    expect(r.healthy === false && r.reason).toBe(`tcp ${addr}: ECONNREFUSED`);
  });

  it('fn: false, throwing and hanging all fail within the deadline', async () => {
    const reasons: string[] = [];
    for (const fn of [
      () => false,
      () => {
        throw new Error('db down');
      },
      () => new Promise<boolean>(() => undefined),
    ]) {
      vi.useFakeTimers();
      let r: Awaited<ReturnType<typeof runHealthCheck>> | undefined;
      void runHealthCheck(resolveHealthCheck({ fn, timeoutMs: 100 }, '127.0.0.1:1')).then(
        x => (r = x),
      );
      await vi.advanceTimersByTimeAsync(100); // settled by its timeoutMs, on a fake clock
      vi.useRealTimers();
      expect(r).toBeDefined();
      reasons.push(r!.healthy ? 'ok' : r!.reason);
    }
    expect(reasons).toEqual([
      'check function returned false',
      'check function threw Error: db down',
      'check function did not answer within 100 ms',
    ]);
  });

  it('monitor reports every result, the first at once', async () => {
    let n = 0;
    const results: HealthResult[] = [];
    const m = new HealthMonitor(
      resolveHealthCheck({ fn: () => ++n % 2 === 1, intervalMs: 50 }, '127.0.0.1:1'),
      r => results.push(r),
    );
    m.start();
    for (let i = 0; i < 100 && results.length < 4; i++) {
      await new Promise(r => setTimeout(r, 20));
    }
    m.stop();
    const count = results.length;
    await new Promise(r => setTimeout(r, 150));
    expect(results.slice(0, 4).map(r => r.healthy)).toEqual([true, false, true, false]);
    expect(results.length).toBe(count); // stopped
  });
});
