/**
 * One long-lived `LeaseKeepAlive` bidi stream, used one request at a time with a
 * reply deadline. etcd3's own `Lease` notices a silent network only after 2×TTL
 * and `keepaliveOnce()` opens a stream per call that can hang forever if the
 * server ends it without replying; this keeps a single stream open and bounds
 * every keepalive by its own timer instead.
 */
import {
  castGrpcError,
  type IDuplexStream,
  type ILeaseKeepAliveRequest,
  type ILeaseKeepAliveResponse,
  type LeaseClient,
} from 'etcd3';
import { DeadlineExceededError } from '../errors';

type Stream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

interface Pending {
  readonly id: string;
  readonly resolve: (ttlSeconds: number) => void;
  readonly reject: (err: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

/** The stream ended without answering an outstanding keepalive. */
export class KeepaliveStreamEndedError extends Error {
  constructor() {
    super('lease keepalive stream ended');
    this.name = 'KeepaliveStreamEndedError';
  }
}

/**
 * Sends keepalives for one lease at a time over a shared stream.
 *
 * Invariants: `pending` is set iff a `ping()` is outstanding; `stream` is the open
 * stream, or undefined when none is open (or it is being opened via `opening`).
 */
export class KeepaliveStream {
  private stream: Stream | undefined;
  private opening: Promise<Stream> | undefined;
  private pending: Pending | undefined;
  private closed = false;
  /** Number of streams opened so far; for tests and the scale report. */
  public streamsOpened = 0;

  constructor(private readonly leaseClient: LeaseClient) {}

  /**
   * Renews lease `id` and resolves with the TTL etcd reports, in seconds (0 or
   * less means the lease is gone). Rejects after `timeoutMs` without a reply, on a
   * stream error, or when the stream ends; the stream is then dropped (cancelled
   * on timeout) and the next ping opens a new one.
   */
  ping(id: string, timeoutMs: number): Promise<number> {
    if (this.closed) {
      return Promise.reject(new KeepaliveStreamEndedError());
    }
    if (this.pending) {
      return Promise.reject(new Error('a keepalive is already in flight'));
    }
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new DeadlineExceededError('leaseKeepAlive', timeoutMs, true));
        this.drop(true);
      }, timeoutMs);
      timer.unref?.();
      const pending: Pending = { id, resolve, reject, timer };
      this.pending = pending;
      this.open().then(
        stream => {
          if (this.pending === pending) {
            stream.write({ ID: id });
          }
        },
        err => {
          if (this.pending === pending) {
            this.fail(castError(err));
          }
        },
      );
    });
  }

  /** Remote address (`host:port`) of the open stream's connection, if known. */
  get peer(): string | undefined {
    try {
      const peer = (this.stream as { getPeer?: () => string } | undefined)?.getPeer?.();
      return peer && peer !== 'unknown' ? peer : undefined;
    } catch {
      return undefined;
    }
  }

  /** Closes the stream gracefully; later pings reject. Idempotent. */
  close(): void {
    this.closed = true;
    this.fail(new KeepaliveStreamEndedError());
    this.drop(false);
  }

  /** Drops the current stream (cancelling it if `cancel`); the next ping opens a new one. */
  drop(cancel: boolean): void {
    const stream = this.stream;
    this.stream = undefined;
    if (!stream) {
      return;
    }
    try {
      if (cancel) {
        // Cancelling reports CANCELLED to etcd3's pool, which resets this host's
        // channels: wanted here, as the path just went silent.
        stream.cancel();
      } else {
        stream.end();
      }
    } catch {
      // already closed
    }
  }

  private open(): Promise<Stream> {
    if (this.stream) {
      return Promise.resolve(this.stream);
    }
    if (!this.opening) {
      this.opening = this.leaseClient.leaseKeepAlive().then(
        stream => {
          this.opening = undefined;
          this.streamsOpened++;
          if (this.closed) {
            stream.end();
            throw new KeepaliveStreamEndedError();
          }
          this.attach(stream);
          return stream;
        },
        err => {
          this.opening = undefined;
          throw err;
        },
      );
    }
    return this.opening;
  }

  private attach(stream: Stream): void {
    this.stream = stream;
    // A dropped stream's late error or end must not fail a ping sent on its successor.
    const gone = (err: unknown) => {
      if (this.stream === stream) {
        this.stream = undefined;
        this.fail(err);
      }
    };
    // A late reply on a dropped stream is still true news (etcd renewed the lease).
    stream.on('data', res => {
      const pending = this.pending;
      if (pending && String(res.ID) === pending.id) {
        this.pending = undefined;
        clearTimeout(pending.timer);
        pending.resolve(Number(res.TTL));
      }
    });
    stream.on('error', err => gone(castError(err)));
    stream.on('end', () => gone(new KeepaliveStreamEndedError()));
  }

  private fail(err: unknown): void {
    const pending = this.pending;
    if (pending) {
      this.pending = undefined;
      clearTimeout(pending.timer);
      pending.reject(err);
    }
  }
}

function castError(err: unknown): unknown {
  return err instanceof Error ? castGrpcError(err) : err;
}
