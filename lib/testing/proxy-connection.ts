/**
 * One client connection through the fault proxy: a client socket, a lazily
 * opened upstream socket, and per-direction blackhole flags and delay queues.
 */
import * as net from 'node:net';

/** Traffic direction: client to etcd (`toServer`), etcd to client (`toClient`), or both. */
export type Direction = 'both' | 'toServer' | 'toClient';

/** Settings shared by every connection of one proxy; read on each chunk. */
export interface ProxySettings {
  delayMs: number;
}

/** An item in a direction's queue: a chunk, or `null` for end-of-stream. */
interface Pending {
  chunk: Buffer | null;
  releaseAt: number;
}

/** One direction of a connection: ordered, optionally delayed, droppable. */
class Lane {
  blackholed = false;
  private readonly queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: ProxySettings,
    private readonly sink: () => net.Socket | undefined,
  ) {}

  /** Forwards `chunk` (or end when null) after the current delay, keeping order. */
  push(chunk: Buffer | null): void {
    if (this.blackholed) return; // dropped, never replayed
    const last = this.queue[this.queue.length - 1];
    const releaseAt = Math.max(Date.now() + this.settings.delayMs, last?.releaseAt ?? 0);
    this.queue.push({ chunk, releaseAt });
    this.drain();
  }

  /** Drops everything queued (when blackholed or torn down). */
  clear(): void {
    this.queue.length = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  drain(): void {
    if (this.timer) return;
    const out = this.sink();
    if (!out) return; // upstream not open yet; drained again on connect
    while (this.queue.length > 0) {
      if (this.blackholed) return this.clear();
      const head = this.queue[0]!;
      const wait = head.releaseAt - Date.now();
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.drain();
        }, wait);
        return;
      }
      this.queue.shift();
      if (out.destroyed) continue;
      if (head.chunk === null) out.end();
      else out.write(head.chunk);
    }
  }
}

/** @internal A proxied client connection. */
export class ProxyConnection {
  upstream: net.Socket | undefined;
  private readonly toServer: Lane;
  private readonly toClient: Lane;
  /** Set once that side's socket has closed. */
  private upstreamGone = false;
  private clientGone = false;
  /** Set when that side sent FIN (possibly swallowed by a blackhole). */
  private clientEnded = false;
  private upstreamEnded = false;

  constructor(
    readonly client: net.Socket,
    settings: ProxySettings,
    private readonly onGone: (c: ProxyConnection) => void,
  ) {
    // Bytes for the server wait in the lane until the upstream socket has connected.
    this.toServer = new Lane(settings, () =>
      this.upstream?.connecting ? undefined : this.upstream,
    );
    this.toClient = new Lane(settings, () => this.client);
    client.on('data', d => this.toServer.push(d));
    client.on('end', () => {
      this.clientEnded = true;
      this.toServer.push(null);
    });
    client.on('error', () => undefined);
    client.on('close', hadError => {
      this.clientGone = true;
      if (hadError) this.toServer.clear();
      else this.toServer.push(null);
      if (hadError && !this.toServer.blackholed) this.destroySide(this.upstream, true);
      this.maybeGone();
    });
  }

  /** True while the client socket is open. */
  get clientOpen(): boolean {
    return !this.clientGone;
  }

  /** Opens the upstream connection (once). */
  connect(target: { host: string; port: number }): void {
    if (this.upstream || this.clientGone) return;
    const up = net.connect({ ...target, allowHalfOpen: true });
    this.upstream = up;
    up.setNoDelay(true);
    up.on('connect', () => this.toServer.drain());
    up.on('data', d => this.toClient.push(d));
    up.on('end', () => {
      this.upstreamEnded = true;
      this.toClient.push(null);
    });
    up.on('error', () => undefined);
    up.on('close', hadError => {
      this.upstreamGone = true;
      if (hadError) this.toClient.clear();
      else this.toClient.push(null);
      if (hadError && !this.toClient.blackholed) this.destroySide(this.client, true);
      this.maybeGone();
    });
  }

  /** Drops bytes in `direction` (no FIN, no RST) until {@link pass}. */
  blackhole(direction: Direction): void {
    if (direction !== 'toClient') {
      this.toServer.blackholed = true;
      this.toServer.clear();
    }
    if (direction !== 'toServer') {
      this.toClient.blackholed = true;
      this.toClient.clear();
    }
  }

  /**
   * Lifts blackholes. A side that died meanwhile now resets the other one, and a
   * FIN that was swallowed is delivered.
   */
  pass(target: { host: string; port: number }): void {
    this.toServer.blackholed = false;
    this.toClient.blackholed = false;
    if (this.upstreamGone) return this.destroySide(this.client, true);
    if (this.clientGone) return this.destroySide(this.upstream, true);
    this.connect(target);
    if (this.upstreamEnded) this.toClient.push(null);
    if (this.clientEnded) this.toServer.push(null);
  }

  /** Destroys both sides with a TCP RST. */
  reset(): void {
    this.destroySide(this.client, true);
    this.destroySide(this.upstream, true);
  }

  /** Destroys both sides (FIN where possible). */
  destroy(): void {
    this.client.destroy();
    this.upstream?.destroy();
  }

  private destroySide(socket: net.Socket | undefined, rst: boolean): void {
    if (!socket || socket.destroyed) return;
    if (rst && !socket.connecting) socket.resetAndDestroy();
    else if (rst) socket.destroy();
    else socket.end();
  }

  private maybeGone(): void {
    if (this.clientGone && (this.upstreamGone || !this.upstream)) {
      this.toClient.clear();
      this.toServer.clear();
      this.onGone(this);
    }
  }
}
