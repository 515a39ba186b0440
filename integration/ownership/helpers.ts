/** Helpers shared by the ownership integration tests. */
export const sleep = (ms: number) => new Promise<void>(r => setTimeout(r, ms));

/** Polls `fn` every `everyMs` until true; resolves with the elapsed ms; bounded by `timeoutMs`. */
export async function waitFor(
  fn: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 20,
): Promise<number> {
  const start = Date.now();
  for (let i = 0; i < 100_000 && Date.now() - start < timeoutMs; i++) {
    if (await fn()) {
      return Date.now() - start;
    }
    await sleep(everyMs);
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

/** Leases a client still holds (its private set), for retention checks. */
export function heldLeases(client: object): number {
  return ((client as { leases?: Set<unknown> }).leases ?? new Set()).size;
}
