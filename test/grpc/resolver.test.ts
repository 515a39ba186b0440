import { Client, credentials, experimental } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../lib/errors';
import { registerEtcdResolver, toEndpoints } from '../../lib/grpc/resolver';
import { FakeEtcdStore } from '../fakes/fake-etcd-store';
import { until } from '../discovery/helpers';

const rec = (addr: string) => JSON.stringify({ Op: 0, Addr: addr, Metadata: null });
const fast = { retryInitialDelayMs: 1, retryMaxDelayMs: 2 };
const cleanups: Array<() => void> = [];
afterEach(() =>
  cleanups
    .splice(0)
    .reverse()
    .forEach(f => f()),
);

interface Report {
  endpoints: string[];
  serviceConfig: unknown;
  note: string;
}
function resolve(scheme: string, path: string, channelOptions = {}) {
  const reports: Report[] = [];
  const r = experimental.createResolver(
    { scheme, authority: '', path },
    (list, _attrs, sc, note) => {
      if (!list.ok) throw new Error('resolver reported an error status');
      reports.push({
        endpoints: list.value.map(e =>
          e.addresses.map(a => ('port' in a ? `${a.host}:${a.port}` : a.path)).join(','),
        ),
        serviceConfig: sc && sc.ok ? sc.value : sc,
        note,
      });
      return true;
    },
    channelOptions,
  );
  cleanups.push(() => r.destroy());
  return { r, reports };
}

describe('etcd resolver', () => {
  it('resolves etcd:///<service> to its instances with round_robin, and follows changes', async () => {
    const etcd = new FakeEtcdStore();
    etcd.put('svc/a', rec('127.0.0.1:1001'));
    etcd.put('svc/b', rec('[::1]:1002'));
    cleanups.push(registerEtcdResolver(etcd.client, { scheme: 'etcdt1', ...fast }));
    const { r, reports } = resolve('etcdt1', 'svc');
    r.updateResolution();
    await until(() => reports.length === 1);
    expect(reports[0]).toEqual({
      endpoints: ['127.0.0.1:1001', '::1:1002'],
      serviceConfig: { loadBalancingConfig: [{ round_robin: {} }], methodConfig: [] },
      note: '',
    });
    await until(() => etcd.opened[0]?.watches.size === 1);
    etcd.put('svc/c', rec('127.0.0.1:1003'));
    await until(() => reports.length === 2);
    expect(reports[1]!.endpoints).toEqual(['127.0.0.1:1001', '::1:1002', '127.0.0.1:1003']);
    etcd.delete('svc/a');
    etcd.delete('svc/b');
    etcd.delete('svc/c');
    await until(() => reports.at(-1)!.endpoints.length === 0);
    expect(reports.at(-1)!.note).toBe('no live instance of service "svc" in etcd');
  });

  it('shares one discovery between resolvers of the same service and stops it when the last is destroyed', async () => {
    const etcd = new FakeEtcdStore();
    etcd.put('svc/a', rec('127.0.0.1:1001'));
    cleanups.push(registerEtcdResolver(etcd.client, { scheme: 'etcdt2', ...fast }));
    const one = resolve('etcdt2', 'svc');
    const two = resolve('etcdt2', 'svc');
    one.r.updateResolution();
    two.r.updateResolution();
    await until(() => one.reports.length === 1 && two.reports.length === 1);
    expect(etcd.rangeCalls).toBe(1);
    await until(() => etcd.opened[0]?.watches.size === 1);
    one.r.destroy();
    expect(etcd.opened[0]!.cancelled).toBe(false);
    two.r.destroy();
    await until(() => etcd.opened[0]!.cancelled);
    // grpc-js may call updateResolution again after destroy (leaving idle): it starts over.
    one.r.updateResolution();
    await until(() => one.reports.length === 2);
    expect(etcd.rangeCalls).toBe(2);
  });

  it('leaves a service config given by the channel alone', async () => {
    const etcd = new FakeEtcdStore();
    etcd.put('svc/a', rec('127.0.0.1:1001'));
    cleanups.push(registerEtcdResolver(etcd.client, { scheme: 'etcdt3', ...fast }));
    const { r, reports } = resolve('etcdt3', 'svc', {
      'grpc.service_config': '{"loadBalancingConfig":[{"pick_first":{}}]}',
    });
    r.updateResolution();
    await until(() => reports.length === 1);
    expect(reports[0]!.serviceConfig).toBeNull();
  });

  it('after dispose, resolves to no address with a note, and restores a resolver registered before', async () => {
    class Foreign implements experimental.Resolver {
      static getDefaultAuthority() {
        return 'foreign';
      }
      updateResolution() {}
      destroy() {}
    }
    experimental.registerResolver('etcdt4', Foreign as any);
    const etcd = new FakeEtcdStore();
    etcd.put('svc/a', rec('127.0.0.1:1001'));
    const dispose = registerEtcdResolver(etcd.client, { scheme: 'etcdt4', ...fast });
    const { r, reports } = resolve('etcdt4', 'svc');
    expect(r).not.toBeInstanceOf(Foreign);
    r.updateResolution();
    await until(() => reports.length === 1);
    dispose();
    dispose(); // idempotent
    await until(() => reports.length === 2);
    expect(reports[1]).toMatchObject({
      endpoints: [],
      note: 'no etcd resolver is registered for scheme "etcdt4" (service "svc")',
    });
    const after = experimental.createResolver({ scheme: 'etcdt4', path: 'svc' }, () => true, {});
    expect(after).toBeInstanceOf(Foreign);
  });

  it('the latest registration serves new channels; disposing it falls back to the one before', async () => {
    const first = new FakeEtcdStore();
    first.put('svc/a', rec('127.0.0.1:1001'));
    const second = new FakeEtcdStore();
    second.put('svc/a', rec('127.0.0.1:2002'));
    cleanups.push(registerEtcdResolver(first.client, { scheme: 'etcdt5', ...fast }));
    const disposeSecond = registerEtcdResolver(second.client, { scheme: 'etcdt5', ...fast });
    const a = resolve('etcdt5', 'svc');
    a.r.updateResolution();
    await until(() => a.reports.length === 1);
    expect(a.reports[0]!.endpoints).toEqual(['127.0.0.1:2002']);
    disposeSecond();
    const b = resolve('etcdt5', 'svc');
    b.r.updateResolution();
    await until(() => b.reports.length === 1);
    expect(b.reports[0]!.endpoints).toEqual(['127.0.0.1:1001']);
  });

  it('parses etcd:///svc, etcd:svc and nested names; rejects others when the channel is made', () => {
    const etcd = new FakeEtcdStore();
    cleanups.push(registerEtcdResolver(etcd.client, { scheme: 'etcdt6' }));
    const insecure = credentials.createInsecure();
    for (const target of ['etcdt6:///svc', 'etcdt6:svc', 'etcdt6:///team/orders']) {
      const c = new Client(target, insecure);
      c.close();
    }
    for (const target of ['etcdt6://authority/svc', 'etcdt6:///bad name', 'etcdt6:///a//b']) {
      expect(() => new Client(target, insecure), target).toThrow(InvalidOptionError);
    }
    expect(etcd.rangeCalls).toBe(0); // channels made but never used: nothing discovered
  });

  it('rejects a bad scheme or discovery option at registration', () => {
    const etcd = new FakeEtcdStore();
    expect(() => registerEtcdResolver(etcd.client, { scheme: 'Etcd' })).toThrow(InvalidOptionError);
    expect(() => registerEtcdResolver(etcd.client, { scheme: 'etcdt7', prefix: 'x' })).toThrow(
      InvalidOptionError,
    );
  });
  it.each(['dns', 'ipv4', 'ipv6', 'unix', 'unix-abstract', 'vsock', 'xds'])(
    'refuses to replace grpc-js\'s built-in "%s" resolver, before registering anything',
    scheme => {
      const etcd = new FakeEtcdStore();
      const builtIn = (s: string) => {
        try {
          const r = experimental.createResolver({ scheme: s, path: 'localhost:1' }, () => true, {});
          r.destroy();
          return r.constructor;
        } catch {
          return undefined;
        }
      };
      const before = builtIn(scheme);
      let err: unknown;
      try {
        cleanups.push(registerEtcdResolver(etcd.client, { scheme }));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidOptionError);
      expect((err as InvalidOptionError).option).toBe('scheme');
      expect(builtIn(scheme)).toBe(before);
      expect(builtIn('dns')?.name).toBe('DnsResolver');
    },
  );
});

describe('toEndpoints', () => {
  it('makes one endpoint per distinct host:port, IPv6 included', () => {
    const i = (id: string, addr: string) => ({ service: 's', id, addr, metadata: null });
    expect(
      toEndpoints([
        i('a', '10.0.0.1:80'),
        i('b', '10.0.0.1:80'),
        i('c', '[fe80::1]:443'),
        i('d', 'host.local:9'),
      ]),
    ).toEqual([
      { addresses: [{ host: '10.0.0.1', port: 80 }] },
      { addresses: [{ host: 'fe80::1', port: 443 }] },
      { addresses: [{ host: 'host.local', port: 9 }] },
    ]);
  });
});
