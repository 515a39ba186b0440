/**
 * A grpc-js name resolver for `etcd:///<service>`: any grpc-js client or channel
 * created with such a target balances round-robin over the service's live
 * instances, as {@link discover} sees them, and follows every change.
 *
 * When no instance is left the resolver reports an empty address list, so calls
 * fail fast with UNAVAILABLE: `No addresses resolved. Resolution note: no live
 * instance of service "orders" in etcd`.
 *
 * grpc-js keeps one resolver class per scheme and has no way to unregister one,
 * so a single dispatcher class is installed per scheme; it serves the most recent
 * registration. The disposer returned by {@link registerEtcdResolver} removes its
 * registration; when the last one is gone, a resolver that was installed for the
 * scheme before ours (by someone else) is put back.
 */
import { Metadata, experimental, status as Status, type ChannelOptions } from '@grpc/grpc-js';
import type { IDisposable } from 'cockatiel';
import type { Namespace } from 'etcd3';
import {
  DISCOVERY_KEYS,
  resolveDiscoveryOptions,
  type DiscoveryOptions,
} from '../discovery/options';
import { assertEtcdClient } from '../policy/etcd-client';
import { readKnownOptions } from '../policy/read-options';
import type { ServiceInstance } from '../service-record';
import { DiscoveryPool, type DiscoveryLease } from './discovery-pool';
import { assertScheme, serviceFromUri } from './target';

/** Options of {@link registerEtcdResolver}: those of `discover()`, plus the scheme. */
export interface EtcdResolverOptions extends DiscoveryOptions {
  /**
   * URI scheme to register. Defaults to `'etcd'` (targets `etcd:///<service>`). grpc-js's
   * built-in schemes (`dns`, `ipv4`, `ipv6`, `unix`, `unix-abstract`, `vsock`, `xds`) are refused.
   */
  scheme?: string;
}

/** `experimental.registerResolver`'s class parameter (not exported by grpc-js by name). */
type ResolverConstructor = Parameters<typeof experimental.registerResolver>[1];

interface Registration {
  readonly pool: DiscoveryPool;
  readonly resolvers: Set<EtcdResolverBase>;
  disposed: boolean;
}

/** Service config reported with every resolution: round-robin over all instances. */
const ROUND_ROBIN = { loadBalancingConfig: [{ round_robin: {} }], methodConfig: [] };

const stacks = new Map<string, Registration[]>();
/** Per scheme: a resolver class installed by someone else before ours, to restore. */
const previous = new Map<string, ResolverConstructor>();
const ours = new Map<string, ResolverConstructor>();

/** Turns instances into grpc-js endpoints, one per distinct address. */
export function toEndpoints(instances: readonly ServiceInstance[]): experimental.Endpoint[] {
  const seen = new Set<string>();
  const endpoints: experimental.Endpoint[] = [];
  for (const i of instances) {
    const hp = experimental.splitHostPort(i.addr);
    if (!hp || hp.port === undefined || seen.has(i.addr)) {
      continue;
    }
    seen.add(i.addr);
    endpoints.push({ addresses: [{ host: hp.host, port: hp.port }] });
  }
  return endpoints;
}

abstract class EtcdResolverBase implements experimental.Resolver {
  private lease: DiscoveryLease | undefined;
  private subscription: IDisposable | undefined;
  private ready = false;
  /** Set when the discovery ended before its first listing (its etcd client is closed). */
  private failure: string | undefined;
  private scheduled = false;
  private readonly serviceConfig: typeof ROUND_ROBIN | null;
  protected readonly service: string;

  constructor(
    private readonly scheme: string,
    private readonly registration: Registration | undefined,
    target: experimental.GrpcUri,
    private readonly listener: experimental.ResolverListener,
    channelOptions: ChannelOptions,
  ) {
    this.service = serviceFromUri(target);
    // A service config given by the user (grpc.service_config) wins; it should then
    // ask for round_robin itself (createGrpcClient adds it).
    this.serviceConfig = channelOptions['grpc.service_config'] ? null : ROUND_ROBIN;
  }

  updateResolution(): void {
    const reg = this.registration;
    if (!reg || reg.disposed) {
      this.schedule();
      return;
    }
    reg.resolvers.add(this);
    if (this.failure !== undefined) {
      this.schedule(); // permanent: report the error again, do not start another discovery
      return;
    }
    if (!this.lease) {
      const lease = (this.lease = reg.pool.acquire(this.service));
      this.subscription = lease.discovery.onChange(() => this.schedule());
      lease.discovery.ready.then(
        () => {
          if (this.lease === lease) {
            this.ready = true;
            this.schedule();
          }
        },
        () => {
          // The discovery was closed before its first listing: its etcd client is
          // closed (an unregister is handled by `unregistered()`). Nothing will ever
          // resolve: say so now, so calls fail instead of waiting for addresses.
          if (this.lease === lease) {
            this.failure = `the etcd client of the "${this.scheme}:" resolver is closed; cannot resolve service "${this.service}"`;
            this.release();
            this.schedule();
          }
        },
      );
    } else if (this.ready || this.failure !== undefined) {
      this.schedule();
    }
  }

  destroy(): void {
    this.registration?.resolvers.delete(this);
    this.release();
    this.failure = undefined;
  }

  /** Lets go of the discovery (released when no other channel uses it). */
  private release(): void {
    this.subscription?.dispose();
    this.subscription = undefined;
    this.lease?.release();
    this.lease = undefined;
    this.ready = false;
  }

  /** Called when the registration this resolver serves is disposed. */
  unregistered(): void {
    this.destroy();
    this.schedule();
  }

  /** Reports the current state soon (never synchronously, as grpc-js requires), coalescing bursts. */
  private schedule(): void {
    if (this.scheduled) {
      return;
    }
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.report();
    });
  }

  private config(): { ok: true; value: typeof ROUND_ROBIN } | null {
    return this.serviceConfig ? { ok: true, value: this.serviceConfig } : null;
  }

  private report(): void {
    const reg = this.registration;
    if (!reg || reg.disposed) {
      // An empty list (not an error) so that round_robin also drops addresses it had.
      this.listener(
        { ok: true, value: [] },
        {},
        this.config(),
        `no etcd resolver is registered for scheme "${this.scheme}" (service "${this.service}")`,
      );
      return;
    }
    if (this.failure !== undefined) {
      // An error resolution: grpc-js fails calls that are not wait-for-ready at once
      // with UNAVAILABLE and this text (a channel that had addresses keeps them).
      const error = { code: Status.UNAVAILABLE, details: this.failure, metadata: new Metadata() };
      this.listener({ ok: false, error }, {}, this.config(), this.failure);
      return;
    }
    if (!this.lease || !this.ready) {
      return;
    }
    const endpoints = toEndpoints(this.lease.discovery.snapshot());
    const note =
      endpoints.length === 0 ? `no live instance of service "${this.service}" in etcd` : '';
    this.listener({ ok: true, value: endpoints }, {}, this.config(), note);
  }
}

function resolverClassFor(scheme: string): ResolverConstructor {
  return class EtcdResolver extends EtcdResolverBase {
    static getDefaultAuthority(target: experimental.GrpcUri): string {
      return serviceFromUri(target);
    }

    constructor(
      target: experimental.GrpcUri,
      listener: experimental.ResolverListener,
      channelOptions: ChannelOptions,
    ) {
      const stack = stacks.get(scheme);
      super(scheme, stack?.[stack.length - 1], target, listener, channelOptions);
    }
  };
}

/** The resolver class grpc-js currently uses for `scheme`, if any and not ours. */
function installedResolver(scheme: string): ResolverConstructor | undefined {
  try {
    const probe = experimental.createResolver(
      { scheme, authority: '', path: 'probe' },
      () => true,
      {},
    );
    probe.destroy();
    const ctor = (probe as object).constructor as ResolverConstructor;
    return ctor === ours.get(scheme) ? undefined : ctor;
  } catch {
    return undefined; // nothing registered for the scheme
  }
}

/** True while at least one {@link registerEtcdResolver} registration serves `scheme`. */
export function isEtcdResolverRegistered(scheme = 'etcd'): boolean {
  return (stacks.get(scheme)?.length ?? 0) > 0;
}

/**
 * Registers the `etcd:` resolver (or `options.scheme`) with grpc-js, backed by
 * `client`. Channels created afterwards with `etcd:///<service>` discover
 * `<prefix><service>/` and balance round-robin over its instances; one discovery
 * per service is shared by all channels. Returns a disposer (idempotent) that
 * removes this registration: channels it serves get an UNAVAILABLE resolution and
 * their discoveries are closed.
 *
 * Throws `InvalidOptionError`, before registering anything, for a `client` that is not
 * an etcd3 client, an unknown option key, a getter that throws, a bad scheme (or one of
 * grpc-js's built-in schemes) or a bad discovery option.
 *
 * @example
 * ```ts
 * const unregister = registerEtcdResolver(etcd, { prefix: 'services/' });
 * const client = new GreeterClient('etcd:///greeter', grpc.credentials.createInsecure());
 * ```
 */
export function registerEtcdResolver(
  client: Namespace,
  options: EtcdResolverOptions = {},
): () => void {
  assertEtcdClient(client);
  // Read once into a plain object: getters and Proxy traps cannot throw later, typos fail.
  const read = readKnownOptions(options, ['scheme', ...DISCOVERY_KEYS], 'options', '');
  const { scheme = 'etcd', ...discoveryOptions } = read as EtcdResolverOptions;
  assertScheme(scheme);
  resolveDiscoveryOptions('probe', discoveryOptions); // validate now, not at the first channel
  const registration: Registration = {
    pool: new DiscoveryPool(client, discoveryOptions),
    resolvers: new Set(),
    disposed: false,
  };
  let stack = stacks.get(scheme);
  if (!stack || stack.length === 0) {
    const foreign = installedResolver(scheme);
    if (foreign) {
      previous.set(scheme, foreign);
    }
    let cls = ours.get(scheme);
    if (!cls) {
      cls = resolverClassFor(scheme);
      ours.set(scheme, cls);
    }
    experimental.registerResolver(scheme, cls);
    stack = [];
    stacks.set(scheme, stack);
  }
  stack.push(registration);

  return () => {
    if (registration.disposed) {
      return;
    }
    registration.disposed = true;
    const s = stacks.get(scheme) ?? [];
    s.splice(s.indexOf(registration), 1);
    for (const r of [...registration.resolvers]) {
      r.unregistered();
    }
    registration.pool.closeAll();
    const foreign = previous.get(scheme);
    if (s.length === 0 && foreign) {
      previous.delete(scheme);
      experimental.registerResolver(scheme, foreign);
    }
  };
}
