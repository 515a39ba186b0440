/**
 * Limits concurrent listings per connection pool. A process that starts 1,000
 * discoveries at once would otherwise send 1,000 range requests at once; they
 * then queue in the event loop and at the server, run past their attempt
 * timeouts, and make the pool's breakers open and its channels rebuild, which
 * slows everything down. A few at a time finishes sooner.
 */

/** Listings in flight per pool. */
export const LIST_CONCURRENCY = 16;

interface Limiter {
  active: number;
  waiting: Array<() => void>;
}

const limiters = new WeakMap<object, Limiter>();

/** Runs `fn` once fewer than {@link LIST_CONCURRENCY} listings of `pool` are in flight. */
export async function limitListing<T>(pool: object, fn: () => Promise<T>): Promise<T> {
  let l = limiters.get(pool);
  if (!l) {
    l = { active: 0, waiting: [] };
    limiters.set(pool, l);
  }
  const limiter = l;
  if (limiter.active >= LIST_CONCURRENCY) {
    await new Promise<void>(resolve => limiter.waiting.push(resolve));
  } else {
    limiter.active++;
  }
  try {
    return await fn();
  } finally {
    const next = limiter.waiting.shift();
    if (next) {
      next(); // hands its slot over: `active` stays the same
    } else {
      limiter.active--;
    }
  }
}
