/**
 * Username/password auth: one token per client, fetched on first use, refreshed
 * when etcd says it is invalid (expired). Unlike etcd3's own authenticator, every
 * attempt has a deadline and reuses the endpoint's channel instead of opening one.
 * The password and the token are never logged or put in an error message.
 */
import { Metadata } from '@grpc/grpc-js';
import { EtcdAuthenticationFailedError } from 'etcd3';
import { DeadlineExceededError } from '../errors';

/** Sends `Auth.authenticate` through the pool (safe to retry) and returns the token. */
export type Authenticate = (name: string, password: string) => Promise<string>;

export class Authenticator {
  private token?: Promise<string>;
  /** The value of `token` once it resolved (so a call with a token at hand arms no timer). */
  private current?: string;

  /**
   * @param failureHoldMs after etcd rejects the username or password, calls and stream
   *   (re)connects fail at once with that same error for this long instead of asking
   *   again: etcd hashes every attempt with bcrypt, so a misconfigured client (or a
   *   watch reconnecting in a loop) must not hammer it. Defaults to 2000 ms.
   */
  constructor(
    private readonly credentials: { username: string; password: string } | undefined,
    private readonly authenticate: Authenticate,
    private readonly failureHoldMs = 2000,
  ) {}

  /** True if calls need a token. */
  get enabled(): boolean {
    return this.credentials !== undefined;
  }

  /**
   * Metadata for one call: carries the token when auth is on. Waits for a token until
   * `deadline` (a `Date.now()` time; defaults to no limit) at most, then rejects with a
   * `DeadlineExceededError` (sent: false), so that fetching a token cannot stretch a
   * call past its own deadline.
   */
  async metadata(deadline = Infinity): Promise<Metadata> {
    const meta = new Metadata();
    if (this.credentials) {
      meta.set('token', this.current ?? (await untilDeadline(this.getToken(), deadline)));
    }
    return meta;
  }

  /** Forgets the current token so the next call authenticates again. */
  invalidate(): void {
    this.token = undefined;
    this.current = undefined;
  }

  /**
   * etcd3's `Authenticator.awaitingMetadata`, for code that reaches
   * `client.pool.authenticator` (etcd3's own test suite injects a bad token this way):
   * the metadata of the current token, or `null` when none was fetched yet or it was
   * invalidated. Setting a `Promise<Metadata>` makes its `token` the current one (an
   * invalid token is then refreshed as usual); setting `null` invalidates.
   */
  get awaitingMetadata(): Promise<Metadata> | null {
    const token = this.token;
    if (!token) {
      return null;
    }
    return token.then(t => {
      const meta = new Metadata();
      meta.set('token', t);
      return meta;
    });
  }

  set awaitingMetadata(value: Promise<Metadata> | null) {
    this.invalidate();
    if (value) {
      this.adopt(Promise.resolve(value).then(meta => String(meta.get('token')[0] ?? '')));
    }
  }

  /** etcd3's `Authenticator.getMetadata()`: metadata for one call. */
  getMetadata(): Promise<Metadata> {
    return this.metadata();
  }

  /** etcd3's `Authenticator.invalidateMetadata()`. */
  invalidateMetadata(): void {
    this.invalidate();
  }

  private getToken(): Promise<string> {
    if (!this.token) {
      const { username, password } = this.credentials!;
      this.adopt(this.authenticate(username, password));
    }
    return this.token!;
  }

  /** Makes `pending` the token every call waits for. */
  private adopt(pending: Promise<string>): void {
    this.token = pending;
    // A failed authentication is cached only when etcd rejected the credentials (see failureHoldMs).
    pending.then(
      token => {
        if (this.token === pending) {
          this.current = token;
        }
      },
      err => {
        if (this.token !== pending) {
          return;
        }
        if (err instanceof EtcdAuthenticationFailedError && this.failureHoldMs > 0) {
          // Wrong credentials: keep failing fast with this error for a while.
          setTimeout(() => {
            if (this.token === pending) {
              this.token = undefined;
            }
          }, this.failureHoldMs).unref();
        } else {
          this.token = undefined;
        }
      },
    );
  }
}

function untilDeadline(token: Promise<string>, deadline: number): Promise<string> {
  if (deadline === Infinity) {
    return token;
  }
  const waitMs = Math.max(0, deadline - Date.now());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new DeadlineExceededError('Auth.authenticate', waitMs, false)),
      waitMs,
    );
    timer.unref();
    token.then(
      t => {
        clearTimeout(timer);
        resolve(t);
      },
      err => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
