/**
 * `register()` under fake time over a {@link FakeEtcdStore}: a fresh store per test,
 * `Math.random` pinned to 0.5 (no jitter), and every registration closed after the test.
 */
import { afterEach, beforeEach, vi } from 'vitest';
import { register, type Registration } from '../../lib/registry/register';
import type { RegisterOptions } from '../../lib/registry/register-options';
import { FakeEtcdStore } from './fake-etcd-store';

/** Advances fake time by `ms`, running the timers and promises due. */
export const tick = (ms: number) => vi.advanceTimersByTimeAsync(ms);

/** Options every test registration starts from. */
const BASE: RegisterOptions = {
  service: 'orders',
  addr: '10.0.0.5:8080',
  id: 'i1',
  ttlSeconds: 3,
};

/**
 * Registers the hooks (call it inside a `describe`) and returns `etcd` (this test's
 * store) and `reg(opts)`, which registers `orders` / `10.0.0.5:8080` / `i1` / 3 s TTL
 * under `opts` on `etcd.client`, closed after the test.
 */
export function withRegistrations(): {
  readonly etcd: FakeEtcdStore;
  reg(opts?: Partial<RegisterOptions>): Registration;
} {
  const regs: Registration[] = [];
  let store: FakeEtcdStore | undefined;
  beforeEach(() => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    store = new FakeEtcdStore();
  });
  afterEach(async () => {
    await Promise.all([Promise.all(regs.splice(0).map(r => r.close())), tick(2000)]);
    vi.useRealTimers();
    vi.restoreAllMocks();
  });
  const fixture = {
    get etcd(): FakeEtcdStore {
      if (!store) {
        throw new Error('withRegistrations(): etcd is only there inside a test');
      }
      return store;
    },
    reg(opts: Partial<RegisterOptions> = {}): Registration {
      const r = register(fixture.etcd.client, { ...BASE, ...opts });
      regs.push(r);
      return r;
    },
  };
  return fixture;
}
