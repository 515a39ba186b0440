/**
 * One {@link WatchHub} per connection pool (and `requireLeader` setting), so every
 * discovery of a client and of its namespaces shares one Watch stream.
 */
import { WatchHub, type WatchHubOptions, type WatchHubStats } from './watch-hub';
import { zeroWatchHubStats } from './watch-types';

const hubs = new WeakMap<object, Map<boolean, WatchHub>>();

/** The hub of `pool` (one per pool and `requireLeader` setting), created on first use. */
export function watchHubFor(pool: object, options: WatchHubOptions): WatchHub {
  let byLeader = hubs.get(pool);
  if (!byLeader) {
    byLeader = new Map();
    hubs.set(pool, byLeader);
  }
  let hub = byLeader.get(options.requireLeader);
  if (!hub) {
    hub = new WatchHub(pool, options);
    byLeader.set(options.requireLeader, hub);
  }
  return hub;
}

/** Counters of the hubs of `pool`, summed; zeros if it has none. */
export function watchHubStats(pool: object): WatchHubStats {
  const total = zeroWatchHubStats();
  for (const hub of hubs.get(pool)?.values() ?? []) {
    const s = hub.stats();
    for (const k of Object.keys(total) as Array<keyof WatchHubStats>) {
      total[k] += s[k];
    }
  }
  return total;
}
