/**
 * A grpc-js resolver scheme that resolves nothing and counts how many channels were
 * made for it (grpc-js creates the resolver with the channel): tests use it to prove
 * that a rejected call made no channel.
 */
import * as grpc from '@grpc/grpc-js';

/**
 * Registers resolver scheme `scheme` and returns a `<scheme>:///svc` target with a
 * `made()` count of channels created for that scheme so far.
 */
export function countingResolver(scheme: string): { target: string; made(): number } {
  let made = 0;
  class CountingResolver {
    constructor() {
      made++;
    }
    updateResolution() {}
    destroy() {}
    static getDefaultAuthority() {
      return scheme;
    }
  }
  grpc.experimental.registerResolver(scheme, CountingResolver as any);
  return { target: `${scheme}:///svc`, made: () => made };
}
