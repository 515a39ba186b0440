/**
 * Username/password auth: one token per client, fetched on first use, refreshed
 * when etcd says it is invalid (expired). Unlike etcd3's own authenticator, every
 * attempt has a deadline and reuses the endpoint's channel instead of opening one.
 * The password and the token are never logged or put in an error message.
 */
import { Metadata } from '@grpc/grpc-js';

/** Sends `Auth.authenticate` through the pool (safe to retry) and returns the token. */
export type Authenticate = (name: string, password: string) => Promise<string>;

export class Authenticator {
  private token?: Promise<string>;

  constructor(
    private readonly credentials: { username: string; password: string } | undefined,
    private readonly authenticate: Authenticate,
  ) {}

  /** True if calls need a token. */
  get enabled(): boolean {
    return this.credentials !== undefined;
  }

  /** Metadata for one call: carries the token when auth is on. */
  async metadata(): Promise<Metadata> {
    const meta = new Metadata();
    if (this.credentials) {
      meta.set('token', await this.getToken());
    }
    return meta;
  }

  /** Forgets `stale` (if it is still the current token) so the next call authenticates again. */
  invalidate(): void {
    this.token = undefined;
  }

  private getToken(): Promise<string> {
    if (!this.token) {
      const { username, password } = this.credentials!;
      const pending = this.authenticate(username, password);
      this.token = pending;
      // A failed authentication is not cached: the next call tries again.
      pending.catch(() => {
        if (this.token === pending) {
          this.token = undefined;
        }
      });
    }
    return this.token;
  }
}
