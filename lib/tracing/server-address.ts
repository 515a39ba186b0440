/**
 * `server.address` / `server.port` span attributes from what we know about a peer: an
 * endpoint URL (`http://10.0.0.1:2379`) or a grpc-js peer string (`ipv4:10.0.0.1:50051`,
 * `10.0.0.1:50051`, `[::1]:50051`, `ipv6:[::1]:50051`, `unix:/path`).
 */
import type { AttributeValue } from './otel';

/** The attributes for `peer`; none for an empty or unparsable peer. */
export function serverAttributes(peer: string | undefined): Record<string, AttributeValue> {
  if (!peer) {
    return {};
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(peer)) {
    try {
      const url = new URL(peer);
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      return { 'server.address': url.hostname.replace(/^\[|\]$/g, ''), 'server.port': port };
    } catch {
      return {};
    }
  }
  if (peer.startsWith('unix:')) {
    return { 'server.address': peer.slice('unix:'.length).replace(/^\/\//, '') };
  }
  const bare = peer.replace(/^ipv[46]:/, '');
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(bare) ?? /^([^:]+):(\d+)$/.exec(bare);
  if (m) {
    return { 'server.address': m[1], 'server.port': Number(m[2]) };
  }
  return { 'server.address': bare };
}
