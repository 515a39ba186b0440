/**
 * Our registration and discovery, as the report uses them. Loaded lazily so the
 * report's other faults run even where those modules are missing.
 */
import type { Etcd3 as BaseEtcd3 } from 'etcd3';

/** A registration handle, as far as the report needs it. */
export interface OurRegistration {
  close(): Promise<void>;
}

/** A discovery handle, as far as the report needs it. */
export interface OurDiscovery {
  /** Ids of the instances currently known. */
  ids(): string[];
  close(): Promise<void>;
}

/** What the report needs from the library. */
export interface Ours {
  register(
    client: BaseEtcd3,
    spec: { service: string; id: string; addr: string; ttlSeconds: number },
  ): Promise<OurRegistration>;
  discover(client: BaseEtcd3, service: string): Promise<OurDiscovery>;
}

/** Loads our registration and discovery; throws a readable error if they are missing. */
export function loadOurs(): Ours {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const lib = require('../../lib/index') as Record<string, any>;
  if (typeof lib.register !== 'function' || typeof lib.discover !== 'function') {
    throw new Error('register()/discover() are not exported by lib/index.ts yet');
  }
  return {
    async register(client, spec) {
      const reg = await lib.register(client, {
        service: spec.service,
        id: spec.id,
        addr: spec.addr,
        ttlSeconds: spec.ttlSeconds,
      });
      return { close: () => reg.close() };
    },
    async discover(client, service) {
      const d = lib.discover(client, service);
      if (typeof d.ready === 'function') await d.ready();
      return {
        ids: () => (d.instances() as Array<{ id: string }>).map(i => i.id).sort(),
        close: () => d.close(),
      };
    },
  };
}
