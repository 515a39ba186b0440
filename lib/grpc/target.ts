/**
 * Parsing of `etcd:` targets: `etcd:///<service>` (the form Go's etcd resolver
 * uses) or `etcd:<service>`. The service is everything after the scheme and the
 * empty authority, and may contain `/` (`etcd:///team/orders`).
 */
import type { experimental } from '@grpc/grpc-js';
import { InvalidOptionError } from '../errors';
import { assertServiceName } from '../service-record';
import { describeValue } from '../validate';

/** The service named by a parsed `etcd:` target. Throws {@link InvalidOptionError} if it names none. */
export function serviceFromUri(uri: experimental.GrpcUri): string {
  if (uri.authority) {
    throw new InvalidOptionError(
      'target',
      `"${uri.scheme}://${uri.authority}/${uri.path}": an authority is not supported; use ${uri.scheme}:///<service>`,
    );
  }
  const service = uri.path;
  assertServiceName(service, 'target');
  return service;
}

/**
 * Schemes of grpc-js's own resolvers (and grpc-js-xds's). Replacing one would break
 * every unrelated channel of the process that uses it, our own etcd client's included.
 */
export const BUILT_IN_SCHEMES: readonly string[] = [
  'dns',
  'ipv4',
  'ipv6',
  'unix',
  'unix-abstract',
  'vsock',
  'xds',
  'google-c2p',
];

/** Valid URI scheme (RFC 3986), lower case as grpc-js matches it, and not a built-in one. */
export function assertScheme(scheme: unknown): asserts scheme is string {
  if (typeof scheme !== 'string' || !/^[a-z][a-z0-9+.-]{0,31}$/.test(scheme)) {
    throw new InvalidOptionError(
      'scheme',
      `must be a lower-case URI scheme such as "etcd", got ${describeValue(scheme)}`,
    );
  }
  if (BUILT_IN_SCHEMES.includes(scheme)) {
    throw new InvalidOptionError(
      'scheme',
      `"${scheme}" is a grpc-js built-in scheme; replacing its resolver would break other channels`,
    );
  }
}
