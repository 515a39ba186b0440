/**
 * Our registration and discovery, as the report uses them.
 */
import type { Etcd3 as BaseEtcd3 } from 'etcd3';
import { discover } from '../../lib/discovery/discovery';
import { register } from '../../lib/registry';

/** A registration handle, as far as the report needs it. */
export interface OurRegistration {
  close(): Promise<void>;
}

/** A discovery handle, as far as the report needs it. */
export interface OurDiscovery {
  /** Ids of the instances currently known, sorted. */
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

/** Our `register()` and `discover()`, waited until ready. */
export function loadOurs(): Ours {
  return {
    async register(client, spec) {
      const reg = register(client, spec);
      await reg.ready();
      return reg;
    },
    async discover(client, service) {
      const d = discover(client, service);
      await d.ready;
      return {
        ids: () =>
          d
            .snapshot()
            .map(i => i.id)
            .sort(),
        close: () => d.close(),
      };
    },
  };
}
