/**
 * Reference-counted discoveries, one per service: every channel that targets
 * `etcd:///orders` shares the same discovery (and so the same etcd watch).
 */
import type { Namespace } from 'etcd3';
import { discover, type Discovery } from '../discovery/discovery';
import type { DiscoveryOptions } from '../discovery/options';

/** A use of a shared discovery; release it exactly once. */
export interface DiscoveryLease {
  readonly discovery: Discovery;
  release(): void;
}

export class DiscoveryPool {
  private readonly entries = new Map<string, { discovery: Discovery; refs: number }>();

  constructor(
    private readonly client: Namespace,
    private readonly options: DiscoveryOptions,
  ) {}

  /** Number of services currently discovered. */
  get size(): number {
    return this.entries.size;
  }

  /** The discovery of `service`, started on first use. */
  acquire(service: string): DiscoveryLease {
    let entry = this.entries.get(service);
    if (!entry) {
      entry = { discovery: discover(this.client, service, this.options), refs: 0 };
      this.entries.set(service, entry);
    }
    entry.refs++;
    const e = entry;
    let released = false;
    return {
      discovery: e.discovery,
      release: () => {
        if (released) {
          return;
        }
        released = true;
        if (--e.refs === 0 && this.entries.get(service) === e) {
          this.entries.delete(service);
          void e.discovery.close();
        }
      },
    };
  }

  /** Closes every discovery. */
  closeAll(): void {
    for (const { discovery } of this.entries.values()) {
      void discovery.close();
    }
    this.entries.clear();
  }
}
