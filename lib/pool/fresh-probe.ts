/**
 * Tells a dead connection from a slow link. When calls and a status probe on an
 * endpoint's connection go unanswered, either the connection died silently (a NAT or
 * load-balancer flush, a half-open TCP flow) or the link is merely slow (a round trip
 * longer than we waited) or the member is frozen. From the old connection alone the
 * three look the same until a whole deadline has passed.
 *
 * A second, throwaway connection settles the first case at once: if a fresh connection
 * to the same member answers a status call while the old one stays silent, the old one
 * is dead and rebuilding it loses nothing. If the fresh one does not answer either, the
 * member is slow or frozen, and rebuilding would only cut off calls that may still be
 * answered (on a slow link, the rebuild's own handshake would take a round trip too).
 * If the fresh one is refused, the member cannot be reached at all (down, or the path
 * rejects connections): the old connection is as good as dead, and only a channel that
 * re-dials (with grpc-js's reconnect backoff) notices when the member is back.
 */
import {
  Metadata,
  status as Status,
  type ChannelCredentials,
  type ChannelOptions,
} from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { Host } from '../internals/etcd3';
import { secureConnector, type SecureConnector } from '../internals/grpc-js';
import { fromServer, type StatusLike } from '../policy/never-sent';

/** Channel option that gives the probe its own subchannel (its own TCP connection). */
const PROBE_OPTION = 'etcd3-resilient.fresh-probe';
let probes = 0;

/**
 * What a fresh connection did:
 * - `answered`: a server spoke (success, or an error that came with its metadata);
 * - `refused`: the connection failed outright (refused, reset, TLS) with no word from a
 *   server; known at once, long before the timeout;
 * - `silent`: no answer within the timeout (a frozen member, or a link too slow).
 */
export type FreshAnswer = 'answered' | 'refused' | 'silent';

/**
 * Dials `address` on a new connection and sends `Maintenance.status` with a deadline
 * `timeoutMs` away; resolves with what happened (see {@link FreshAnswer}). Never
 * rejects; the connection is closed before it resolves.
 */
export function freshConnection(
  address: string,
  credentials: ChannelCredentials,
  channelOptions: ChannelOptions,
  timeoutMs: number,
): Promise<FreshAnswer> {
  return new Promise(resolve => {
    let host: Host | undefined;
    const done = (answer: FreshAnswer) => {
      try {
        host?.close();
      } catch {
        // Closing a channel that failed to open: nothing to free.
      }
      resolve(answer);
    };
    try {
      host = new Host(address, credentials, { ...channelOptions, [PROBE_OPTION]: ++probes });
      const client = host.getServiceClient('Maintenance') as unknown as {
        status(
          req: object,
          md: Metadata,
          opts: { deadline: number },
          cb: (err: StatusLike | null) => void,
        ): void;
      };
      client.status({}, new Metadata(), { deadline: Date.now() + timeoutMs }, err => {
        if (!err || fromServer(err)) {
          done('answered');
        } else {
          // grpc-js fails a call at once, before its deadline, when the connection
          // attempt failed (a call waits for its deadline only while CONNECTING).
          done(err.code === Status.UNAVAILABLE ? 'refused' : 'silent');
        }
      });
    } catch {
      done('silent');
    }
  });
}

/**
 * Whether a fresh connection to `address` completes its handshake (TCP, TLS if the
 * credentials are secure, then the server's HTTP/2 SETTINGS) within `timeoutMs`:
 * `answered`; fails outright (refused, reset, TLS rejected): `refused`; or neither:
 * `silent`. Never rejects.
 *
 * Unlike {@link freshConnection}, it owns its socket and destroys it when it resolves.
 * A grpc-js channel closed while its connection attempt is still in progress leaves
 * that socket open until the peer answers or the OS gives up (grpc-js 1.14 does not
 * abort a connect when the subchannel shuts down), so a probe repeated into a silent
 * path on grpc-js channels would pile up connections; this one holds none afterwards.
 * Falls back to {@link freshConnection} if the credentials lack grpc-js's connector
 * (`secureConnector` in lib/internals/grpc-js.ts).
 */
export function freshHandshake(
  address: string,
  credentials: ChannelCredentials,
  channelOptions: ChannelOptions,
  timeoutMs: number,
): Promise<FreshAnswer> {
  let connector: SecureConnector | undefined;
  try {
    connector = secureConnector(credentials, address, channelOptions);
  } catch {
    return Promise.resolve('silent');
  }
  if (!connector) {
    return freshConnection(address, credentials, channelOptions, timeoutMs);
  }
  const secure = connector;
  return new Promise(resolve => {
    const held: Array<{ destroy(): void }> = [];
    let settled = false;
    const done = (answer: FreshAnswer) => {
      if (settled) {
        return;
      }
      settled = true;
      clearTimeout(timer);
      for (const h of held.reverse()) {
        try {
          h.destroy();
        } catch {
          // Already gone.
        }
      }
      resolve(answer);
    };
    const timer = setTimeout(() => done('silent'), timeoutMs);
    timer.unref();
    try {
      held.push(secure);
      const { host, port } = splitAddress(address);
      const socket = net.connect({ host, port });
      held.push(socket);
      const failed = () => done('refused');
      socket.once('error', failed);
      socket.once('close', failed);
      socket.once('connect', () => {
        secure.connect(socket).then(({ socket: secured, secure: tls }) => {
          held.push(secured);
          if (settled) {
            return done('silent'); // destroys it
          }
          secured.once('error', failed);
          secured.once('close', failed);
          const session = http2.connect(`${tls ? 'https' : 'http'}://${address}`, {
            createConnection: () => secured,
          });
          held.push(session);
          session.once('remoteSettings', () => done('answered'));
          session.once('error', failed);
          session.once('close', failed);
        }, failed);
      });
    } catch {
      done('silent');
    }
  });
}

/** `host:port` or `[v6]:port` into its parts. */
function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(address.slice(at + 1)) };
}
