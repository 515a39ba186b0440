/**
 * A TCP proxy on 127.0.0.1 that injects network faults between a client and
 * etcd: silent blackholes (per direction, existing and/or new connections),
 * RSTs, refused connections, latency, and retargeting.
 */
import * as net from 'node:net';
import { InvalidOptionError } from '../errors';
import { readKnownOptions } from '../policy/read-options';
import { describeValue } from '../validate';
import { ProxyConnection, type Direction, type ProxySettings } from './proxy-connection';

export type { Direction } from './proxy-connection';

/** A running fault proxy; see {@link startProxy}. */
export interface FaultProxy {
  /** Local port the proxy listens on (127.0.0.1). */
  readonly port: number;
  /** `http://127.0.0.1:<port>`: give this to the client instead of etcd's URL. */
  readonly endpoint: string;
  /** `host:port` new connections are forwarded to. */
  readonly target: string;
  /** Client connections currently open. */
  readonly connectionCount: number;
  /** Normal forwarding: lifts every blackhole, blackholeNew, refuse and delay. */
  pass(): void;
  /**
   * Silently drops every byte in `direction` (default `'both'`) on the connections
   * open now: no FIN, no RST, nothing buffered for later. New connections are not
   * affected (see {@link blackholeNew}), which models a NAT/LB flush ("half-open").
   */
  blackhole(direction?: Direction): void;
  /**
   * While on, new connections are accepted but never reach the target and get no
   * bytes back: together with {@link blackhole} a fully dead network path. On
   * {@link pass} they are connected through.
   */
  blackholeNew(on: boolean): void;
  /** Destroys every current connection with a TCP RST (both sides). */
  reset(): void;
  /**
   * While on (default true), new connections are reset right after accept, so the
   * client's connect attempt fails. Existing connections are not affected.
   */
  refuse(on?: boolean): void;
  /** Adds `ms` of latency to every chunk in both directions, keeping order. 0 removes it. */
  delay(ms: number): void;
  /** Forwards new connections to `target` (`host:port` or a URL). */
  retarget(target: string): void;
  /** Closes the listener and destroys every connection. Idempotent. */
  close(): Promise<void>;
}

/** Parses `host:port`, `http(s)://host:port` into a connect target. */
function parseTarget(target: unknown): { host: string; port: number } {
  if (typeof target !== 'string') {
    throw new InvalidOptionError('target', `expected "host:port", got ${describeValue(target)}`);
  }
  const hostPort = target.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  // Printable host names only: a control character is never a host.
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:\s\x00-\x1f\x7f]+):(\d{1,5})$/.exec(hostPort);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port > 0 && port < 65536)) {
    throw new InvalidOptionError('target', `expected "host:port", got ${describeValue(target)}`);
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

class Proxy implements FaultProxy {
  private readonly connections = new Set<ProxyConnection>();
  private readonly settings: ProxySettings = { delayMs: 0 };
  private refusing = false;
  private newBlackholed = false;
  private closing: Promise<void> | undefined;
  /** Kept after close(), when the server no longer has an address. */
  readonly port: number;

  constructor(
    private readonly server: net.Server,
    private dest: { host: string; port: number },
  ) {
    this.port = (server.address() as net.AddressInfo).port;
    server.on('connection', socket => this.accept(socket));
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get target(): string {
    return `${this.dest.host}:${this.dest.port}`;
  }
  get connectionCount(): number {
    let n = 0;
    for (const c of this.connections) if (c.clientOpen) n++;
    return n;
  }

  private accept(socket: net.Socket): void {
    if (this.refusing || this.closing) {
      socket.on('error', () => undefined);
      socket.resetAndDestroy();
      return;
    }
    socket.setNoDelay(true);
    const conn = new ProxyConnection(socket, this.settings, c => this.connections.delete(c));
    this.connections.add(conn);
    if (this.newBlackholed) conn.blackhole('both');
    else conn.connect(this.dest);
  }

  pass(): void {
    this.refusing = false;
    this.newBlackholed = false;
    this.settings.delayMs = 0;
    for (const c of [...this.connections]) c.pass(this.dest);
  }

  blackhole(direction: Direction = 'both'): void {
    if (direction !== 'both' && direction !== 'toServer' && direction !== 'toClient') {
      const got = String(direction);
      throw new InvalidOptionError(
        'direction',
        `expected 'both', 'toServer' or 'toClient', got ${got}`,
      );
    }
    for (const c of this.connections) c.blackhole(direction);
  }

  blackholeNew(on: boolean): void {
    this.newBlackholed = on;
  }

  reset(): void {
    for (const c of [...this.connections]) c.reset();
  }

  refuse(on = true): void {
    this.refusing = on;
  }

  delay(ms: number): void {
    if (!(Number.isFinite(ms) && ms >= 0)) {
      throw new InvalidOptionError('delay', `must be a non-negative number of ms, got ${ms}`);
    }
    this.settings.delayMs = ms;
  }

  retarget(target: string): void {
    this.dest = parseTarget(target);
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>(resolve => {
      this.server.close(() => resolve());
      for (const c of [...this.connections]) c.destroy();
      this.connections.clear();
    });
    return this.closing;
  }
}

/**
 * Starts a fault-injecting TCP proxy on 127.0.0.1 forwarding to `target`.
 *
 * @param options.target `host:port` (or a URL such as `cluster.endpoints[0]`).
 * @param options.port local port; defaults to 0 (the OS picks a free one).
 * @example
 * const proxy = await startProxy({ target: cluster.endpoints[0] });
 * const client = new Etcd3({ hosts: proxy.endpoint });
 * proxy.blackhole();        // existing connections go silent
 * proxy.blackholeNew(true); // ...and so do new ones: a dead path
 * proxy.pass();             // heal
 */
export async function startProxy(options: { target: string; port?: number }): Promise<FaultProxy> {
  // Read once into a plain object: getters and Proxy traps cannot throw later, typos fail.
  const o = readKnownOptions(options, ['target', 'port'], 'options', '');
  if (options === undefined) {
    throw new InvalidOptionError('options', 'must be an object with a target');
  }
  const dest = parseTarget(o.target);
  const port = o.port ?? 0;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidOptionError(
      'port',
      `must be an integer from 0 to 65535, got ${describeValue(port)}`,
    );
  }
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  return new Proxy(server, dest);
}
