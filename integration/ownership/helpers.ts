/** Helpers shared by the ownership integration tests. */
export { sleep, waitFor } from '../shared';

/** Leases a client still holds (its private set), for retention checks. */
export function heldLeases(client: object): number {
  return ((client as { leases?: Set<unknown> }).leases ?? new Set()).size;
}
