/**
 * The one file that touches grpc-js's private parts (tested against the installed
 * grpc-js, 1.14): one fix, installed by the channel core (lib/channel/channel-core.ts)
 * that every channel the library keeps goes through (`Etcd3`'s pool and
 * `createGrpcClient`), and one borrowed part, {@link secureConnector}.
 *
 * **Orphaned subchannels leak connections.** When the last user of a grpc-js
 * subchannel lets go (its refcount drops to 0), grpc-js shuts it down by moving it
 * to IDLE, but only from CONNECTING or READY. A subchannel in TRANSIENT_FAILURE
 * stays there with its backoff timer running; if a channel had asked it to connect,
 * the timer moves it to CONNECTING, it connects as soon as the server is back, and
 * then holds that TCP connection (and its fd) for good: nothing references the
 * subchannel any more, so nothing ever closes it. Closing a client, or rebuilding a
 * channel, while the server is down is exactly that case; measured in a churn test,
 * a handful of such connections per minute of faults, never released.
 *
 * The fix completes grpc-js's own shutdown: a subchannel whose refcount reached 0
 * and that is in TRANSIENT_FAILURE is moved to IDLE too, so its backoff timer finds
 * nothing to do. It changes nothing for subchannels still in use.
 *
 * It is installed once per grpc-js copy (ours and etcd3's, if they differ), only if
 * the internals have the expected shape. Otherwise nothing is changed and one
 * process warning (`ERESILIENT_GRPC_JS_SHAPE`) says so. {@link checkGrpcJsShapes}
 * lists every shape relied on; a unit test runs it against the installed grpc-js,
 * so a grpc-js change fails CI, not production.
 *
 * @see integration/security/connection-leak.test.ts
 */
import {
  connectivityState,
  credentials as grpcCredentials,
  type ChannelCredentials,
  type ChannelOptions,
} from '@grpc/grpc-js';
import type * as net from 'node:net';
import * as path from 'node:path';

const PATCHED = Symbol.for('etcd3-resilient.orphan-subchannel-fix');

/** What the fix reads and calls on grpc-js's `Subchannel`. */
interface SubchannelInternals {
  refcount: number;
  unref(): void;
  transitionToState(from: connectivityState[], to: connectivityState): boolean;
}
type SubchannelProto = SubchannelInternals & { [PATCHED]?: true };

/** The `subchannel` module files of every grpc-js copy the library and etcd3 load. */
function subchannelModules(): string[] {
  const files = new Set<string>();
  const from = [__dirname];
  try {
    from.push(path.dirname(require.resolve('etcd3')));
  } catch {
    // etcd3 not resolvable from here: only our copy
  }
  for (const dir of from) {
    try {
      files.add(require.resolve('@grpc/grpc-js/build/src/subchannel', { paths: [dir] }));
    } catch {
      // grpc-js laid out differently: reported by the shape check
    }
  }
  return [...files];
}

function subchannelProto(file: string): SubchannelProto | undefined {
  try {
    const proto = require(file)?.Subchannel?.prototype;
    return typeof proto === 'object' && proto !== null ? proto : undefined;
  } catch {
    return undefined;
  }
}

/** The shapes of one `Subchannel.prototype` that differ from what the fix needs. */
function protoProblems(proto: SubchannelProto | undefined, where: string): string[] {
  if (!proto) {
    return [`${where}: Subchannel class`];
  }
  if ((proto as { [PATCHED]?: true })[PATCHED]) {
    return [];
  }
  const problems: string[] = [];
  if (typeof proto.unref !== 'function') {
    problems.push(`${where}: Subchannel.prototype.unref`);
  } else {
    const src = String(proto.unref);
    // grpc-js's own shutdown, which the fix completes: refcount 0 -> IDLE from CONNECTING/READY.
    if (!/refcount/.test(src) || !/transitionToState\(\s*\[[^\]]*CONNECTING[^\]]*READY/.test(src)) {
      problems.push(`${where}: Subchannel.unref shuts down via refcount/transitionToState`);
    }
  }
  if (typeof proto.transitionToState !== 'function') {
    problems.push(`${where}: Subchannel.prototype.transitionToState`);
  } else if (!/oldStates/.test(String(proto.transitionToState).split(')')[0])) {
    problems.push(`${where}: Subchannel.transitionToState(oldStates, newState)`);
  }
  return problems;
}

/** Every grpc-js `Subchannel.prototype` the library and etcd3 load, by module file. */
function loadedSubchannels(): Array<[string, SubchannelProto | undefined]> {
  return subchannelModules().map(f => [path.relative(process.cwd(), f), subchannelProto(f)]);
}

/** The subchannel shapes the orphan fix needs that differ. */
function subchannelProblems(subchannels: Array<[string, object | undefined]>): string[] {
  if (subchannels.length === 0) {
    return ['@grpc/grpc-js/build/src/subchannel module'];
  }
  return subchannels.flatMap(([where, proto]) =>
    protoProblems(proto as SubchannelProto | undefined, where),
  );
}

/**
 * Checks every grpc-js internal this file relies on, in every grpc-js copy the
 * library and etcd3 load (and the connector of `credentials`). Returns the shapes that
 * differ (empty = all as expected). Changes nothing.
 */
export function checkGrpcJsShapes(
  subchannels: Array<[string, object | undefined]> = loadedSubchannels(),
  credentials: object = grpcCredentials.createInsecure(),
): string[] {
  const problems = subchannelProblems(subchannels);
  if (typeof (credentials as Partial<ConnectorSource>)._createSecureConnector !== 'function') {
    problems.push('ChannelCredentials.prototype._createSecureConnector');
  }
  return problems;
}

/**
 * What grpc-js 1.14's channel credentials use to make a connected socket ready for
 * HTTP/2: a TLS handshake with ALPN `h2` and the credentials' CA, client certificate and
 * checks for secure ones, nothing for insecure ones.
 */
export interface SecureConnector {
  connect(socket: net.Socket): Promise<{ socket: net.Socket; secure: boolean }>;
  destroy(): void;
}

interface ConnectorSource {
  _createSecureConnector(
    target: { scheme?: string; authority?: string; path: string },
    options: ChannelOptions,
  ): SecureConnector;
}

/**
 * The connector grpc-js would use for `credentials` to `address` (`host:port`), so a
 * probe can handshake exactly as a channel would while owning its socket; `undefined`
 * if these credentials lack grpc-js 1.14's `_createSecureConnector` (declared in its
 * public typings, underscore-named), after one `ERESILIENT_GRPC_JS_SHAPE` warning.
 */
export function secureConnector(
  credentials: ChannelCredentials,
  address: string,
  options: ChannelOptions,
): SecureConnector | undefined {
  const source = credentials as unknown as Partial<ConnectorSource>;
  if (typeof source._createSecureConnector !== 'function') {
    if (!connectorWarned) {
      connectorWarned = true;
      process.emitWarning(
        'etcd3-resilient: grpc-js ChannelCredentials has no _createSecureConnector; ' +
          'connection probes fall back to whole grpc-js channels. ' +
          'Use the @grpc/grpc-js version etcd3-resilient is tested with (1.14).',
        { code: 'ERESILIENT_GRPC_JS_SHAPE' },
      );
    }
    return undefined;
  }
  return source._createSecureConnector({ scheme: 'dns', path: address }, options);
}

let connectorWarned = false;

function patch(proto: SubchannelProto): void {
  if (proto[PATCHED]) {
    return;
  }
  const unref = proto.unref;
  proto.unref = function unrefAndShutDown(this: SubchannelInternals): void {
    unref.call(this);
    if (this.refcount === 0) {
      // Same tick as grpc-js's own CONNECTING/READY -> IDLE shutdown.
      process.nextTick(() => {
        if (this.refcount === 0) {
          this.transitionToState([connectivityState.TRANSIENT_FAILURE], connectivityState.IDLE);
        }
      });
    }
  };
  Object.defineProperty(proto, PATCHED, { value: true });
}

let installed: boolean | undefined;
let warned = false;

/**
 * Installs the grpc-js fixes (today: orphaned subchannels, see the file comment)
 * into every grpc-js copy the library and etcd3 use. Idempotent and cheap after the
 * first call; every place that creates a channel calls it. Returns false if
 * grpc-js's internals are not as expected: nothing was changed, and one process
 * warning (`ERESILIENT_GRPC_JS_SHAPE`) was emitted.
 */
export function installGrpcJsFixes(): boolean {
  if (installed === undefined) {
    installed = installInto(loadedSubchannels());
  }
  return installed;
}

/**
 * @internal The installation proper, on given prototypes (tests pass odd shapes).
 * All or nothing: patches only if every prototype has the expected shape.
 */
export function installInto(subchannels: Array<[string, object | undefined]>): boolean {
  const problems = subchannelProblems(subchannels);
  if (problems.length > 0) {
    if (!warned) {
      warned = true;
      process.emitWarning(
        `etcd3-resilient: grpc-js internals have an unexpected shape (${problems.join('; ')}); ` +
          'the fix for connections leaked by orphaned subchannels is off. ' +
          'Use the @grpc/grpc-js version etcd3-resilient is tested with (1.14).',
        { code: 'ERESILIENT_GRPC_JS_SHAPE' },
      );
    }
    return false;
  }
  for (const [, proto] of subchannels) {
    patch(proto as SubchannelProto);
  }
  return true;
}
