/**
 * `register()`: publishes one service instance in etcd and keeps it published
 * through lease loss, etcd outages, foreign deletes and the service's own health.
 */
import { ClientClosedError, type Namespace } from 'etcd3';
import { Emitter, type Event, type IDisposable } from '../events';
import type { Logger } from '../logger';
import type { LeaseLossReason } from './durable-lease';
import { HealthMonitor, type HealthResult } from './health-check';
import { KeyGuard } from './key-guard';
import { claimKey } from './key-owners';
import { describeError } from '../policy/describe-error';
import { isPermanentError } from '../policy/permanent-error';
import { acquireLease, type LeaseRef } from './lease-pool';
import type { KeyHealCause } from './leased-keys';
import type { ServiceInstance } from '../service-record';
import {
  resolveRegisterOptions,
  type RegisterOptions,
  type ResolvedRegistration,
} from './register-options';

/**
 * Lifecycle of a {@link Registration}:
 * `starting` (first write or first health check pending) → `published` ⇄
 * `withdrawn` (health check failing, or paused) and `published` ⇄ `lost` (lease
 * lost, re-registering); `closed` and `failed` (etcd refused the registration
 * permanently, see {@link Registration.onFailed}) are terminal.
 */
export type RegistrationState =
  'starting' | 'published' | 'withdrawn' | 'lost' | 'closed' | 'failed';

/**
 * etcd refused the registration for a reason retrying cannot fix (permission
 * denied, authentication failed, invalid argument). `error` is etcd3's error
 * (e.g. `EtcdPermissionDeniedError`); the registration has stopped.
 */
export interface RegistrationFailedEvent {
  readonly key: string;
  readonly error: unknown;
  /** Secret-free one-line description of `error`. */
  readonly reason: string;
}

/** The record was written: first time (`initial`), after a health recovery, or after `resume()`. */
export interface PublishedEvent {
  readonly key: string;
  readonly leaseId: string;
  readonly reason: 'initial' | 'healthy' | 'resumed';
}
/** The record was deleted on purpose. `detail` says why the health check failed. */
export interface WithdrawnEvent {
  readonly key: string;
  readonly reason: 'unhealthy' | 'paused';
  readonly detail?: string;
}
/** The lease holding the record was lost; the record is being written again. */
export interface RegistrationLostEvent {
  readonly key: string;
  readonly leaseId: string;
  readonly reason: LeaseLossReason;
}
/** After a loss, the record is back under a new lease; `outageMs` since the loss was declared. */
export interface RegistrationRestoredEvent {
  readonly key: string;
  readonly leaseId: string;
  readonly outageMs: number;
}
/** Someone else deleted or overwrote the record and it was put back. */
export interface HealedEvent {
  readonly key: string;
  readonly leaseId: string;
  readonly cause: KeyHealCause;
}

/**
 * Registers a service instance: writes `<prefix><service>/<id>` with the Go
 * `naming/endpoints` record (by default) under a lease, and keeps it there until
 * `close()`: the lease is renewed, re-granted after a loss (the key stays the
 * same), the key is put back if someone removes it, and it is withdrawn while
 * an optional health check fails.
 *
 * Returns at once; the first write happens in the background (see `ready()`).
 *
 * @throws InvalidOptionError for bad options, before anything is written: a bad value,
 *   an unknown key (with a "did you mean"), a getter or Proxy trap that throws, a client
 *   that is not an etcd3 client, or a key another live registration on this client
 *   owns (whatever prefix/namespace spells it).
 * @example
 * const reg = register(client, { service: 'orders', addr: '10.0.0.5:8080', metadata: { zone: 'a' } });
 * reg.onLost(e => log.warn(e, 'registration lost, re-registering'));
 * await reg.ready();
 * process.on('SIGTERM', () => reg.close());
 */
export function register(client: Namespace, options: RegisterOptions): Registration {
  return new Registration(client, resolveRegisterOptions(client, options));
}

/** A live registration; see {@link register}. */
export class Registration {
  /** The etcd key, stable for the registration's life. */
  public readonly key: string;
  /** What is registered. */
  public readonly instance: ServiceInstance;
  private readonly publishedEmitter = new Emitter<PublishedEvent>('published');
  private readonly withdrawnEmitter = new Emitter<WithdrawnEvent>('withdrawn');
  private readonly lostEmitter = new Emitter<RegistrationLostEvent>('lost');
  private readonly restoredEmitter = new Emitter<RegistrationRestoredEvent>('restored');
  private readonly healedEmitter = new Emitter<HealedEvent>('healed');
  private readonly closedEmitter = new Emitter<void>('closed');
  private readonly failedEmitter = new Emitter<RegistrationFailedEvent>('failed');
  // Releases this registration's claim on its key (one live registration per key and client).
  private readonly releaseKey: () => void;
  // Set iff state is 'failed'.
  private failure: unknown;
  private readonly ref: LeaseRef;
  private readonly log: Logger;
  private readonly subs: IDisposable[] = [];
  private readonly guard: KeyGuard | undefined;
  private readonly monitor: HealthMonitor | undefined;
  private innerState: RegistrationState = 'starting';
  // True while we want the key present (healthy and not paused) and asked the lease for it.
  private attached = false;
  private healthy: boolean;
  private paused = false;
  // False until the first health check result arrives.
  private healthKnown = false;
  private publishReason: PublishedEvent['reason'] = 'initial';
  private lostAt: number | undefined;
  private closing: Promise<void> | undefined;

  /** The record was written (first time, after health recovery, after resume). */
  public readonly onPublished: Event<PublishedEvent> = this.publishedEmitter.event;
  /** The record was deleted because the health check failed or `pause()` was called. */
  public readonly onWithdrawn: Event<WithdrawnEvent> = this.withdrawnEmitter.event;
  /** The lease was lost; the record may be gone until {@link onRestored}. */
  public readonly onLost: Event<RegistrationLostEvent> = this.lostEmitter.event;
  /** The record is back after a lease loss (same key, new lease). */
  public readonly onRestored: Event<RegistrationRestoredEvent> = this.restoredEmitter.event;
  /** Someone else deleted or overwrote the record; it was put back. */
  public readonly onHealed: Event<HealedEvent> = this.healedEmitter.event;
  /**
   * etcd refused the registration permanently (no write permission, bad
   * credentials, invalid request): it stopped, and `ready()` rejects with `error`.
   * Transient failures never fire this; they are retried until `close()`.
   */
  public readonly onFailed: Event<RegistrationFailedEvent> = this.failedEmitter.event;

  /** @internal use {@link register}. */
  constructor(
    client: Namespace,
    private readonly cfg: ResolvedRegistration,
  ) {
    this.key = cfg.key;
    this.instance = cfg.instance;
    this.releaseKey = claimKey(client, cfg.key, this);
    this.log = cfg.logger.child({ component: 'registration', key: cfg.key });
    for (const e of [
      this.publishedEmitter,
      this.withdrawnEmitter,
      this.lostEmitter,
      this.restoredEmitter,
      this.healedEmitter,
      this.closedEmitter,
      this.failedEmitter,
    ] as Array<{ setLogger(l: Logger): void }>) {
      e.setLogger(this.log);
    }
    this.ref = acquireLease(client, cfg.leaseOptions, cfg.sharedLease);
    const lease = this.ref.lease;
    this.subs.push(
      lease.onLost(e => this.leaseLost(e.leaseId, e.reason)),
      lease.onKeyWritten(e => e.key === this.key && this.written(e.leaseId, e.cause)),
      lease.onKeyHealed(
        e =>
          e.key === this.key &&
          this.emit(
            this.healedEmitter,
            { key: this.key, leaseId: e.leaseId, cause: e.cause },
            'healed',
          ),
      ),
      // The client was closed under us (or someone closed a lease we share): end too.
      lease.onClosed(() =>
        lease.failure !== undefined ? this.fail(lease.failure) : void this.close(),
      ),
    );
    if (cfg.selfHeal) {
      this.guard = new KeyGuard(
        client,
        cfg.key,
        lease,
        this.log,
        cfg.lease.backoff,
        cfg.lease.callTimeoutMs,
      );
      this.guard.start();
    }
    this.healthy = cfg.healthCheck === undefined;
    if (cfg.healthCheck) {
      this.monitor = new HealthMonitor(cfg.healthCheck, r => this.healthResult(r));
      this.monitor.start();
    }
    this.log.info(
      { addr: cfg.instance.addr, ttlSeconds: cfg.lease.ttlSeconds, sharedLease: this.ref.shared },
      'registering',
    );
    if (!cfg.healthCheck) {
      this.update();
    }
  }

  /** Current state. */
  get state(): RegistrationState {
    return this.innerState;
  }

  /** Lease the record is written under, while it is; else undefined. */
  get leaseId(): string | undefined {
    return this.innerState === 'published' ? this.ref.lease.leaseId : undefined;
  }

  /**
   * Remote `host:port` of the etcd member renewing this registration's lease (the
   * connection of its keepalive stream), when known. For diagnostics.
   */
  get keepalivePeer(): string | undefined {
    return this.ref.lease.keepalivePeer;
  }

  /**
   * Resolves once the record is published (at once if it is); rejects with
   * etcd3's `ClientClosedError` if the registration is closed first, or with the
   * etcd3 error etcd refused it with permanently (`EtcdPermissionDeniedError`,
   * `EtcdAuthenticationFailedError`, `GRPCInvalidArgumentError`...; see
   * {@link onFailed}). Transient failures (etcd unreachable) never reject it.
   */
  ready(): Promise<void> {
    if (this.innerState === 'published') {
      return Promise.resolve();
    }
    if (this.innerState === 'failed') {
      return Promise.reject(this.failure);
    }
    if (this.innerState === 'closed') {
      return Promise.reject(new ClientClosedError('Registration'));
    }
    return new Promise((resolve, reject) => {
      const subs = [
        this.onPublished(() => done(resolve)),
        this.onRestored(() => done(resolve)),
        this.failedEmitter.event(e => done(() => reject(e.error))),
        this.closedEmitter.event(() => done(() => reject(new ClientClosedError('Registration')))),
      ];
      const done = (settle: () => void) => {
        subs.forEach(s => s.dispose());
        settle();
      };
    });
  }

  /**
   * Withdraws the record (deletes the key) until {@link resume}; the lease is kept.
   * Resolves when the key is deleted.
   */
  pause(): Promise<void> {
    this.paused = true;
    return this.update('paused') ?? Promise.resolve();
  }

  /** Publishes the record again after {@link pause} (if healthy). */
  resume(): void {
    this.paused = false;
    this.publishReason = 'resumed';
    this.update();
  }

  /**
   * Deregisters: revokes the lease if no other registration shares it (the key
   * disappears at once), else deletes the key. Bounded by the lease's
   * `closeTimeoutMs` (default 1000 ms); on timeout the key expires within the TTL.
   * Idempotent; never rejects.
   */
  close(): Promise<void> {
    if (this.closing) {
      return this.closing;
    }
    if (this.innerState !== 'failed') {
      this.innerState = 'closed';
    }
    this.attached = false;
    this.releaseKey();
    this.monitor?.stop();

    this.subs.splice(0).forEach(s => s.dispose());
    const timeoutMs = this.cfg.lease.closeTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>(resolve => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs + 100);
      timer.unref?.();
    });
    const released = this.ref.release(this.key);
    if (this.guard && this.ref.shared) {
      // The shared lease lives on: it keeps guarding the key if a put of ours may still land.
      this.ref.lease.adoptGuard(this.key, this.guard);
    } else {
      this.guard?.stop();
    }
    this.closing = Promise.race([released.then(() => 'done' as const), timeout]).then(r => {
      clearTimeout(timer);
      if (r === 'timeout') {
        this.log.warn(
          { timeoutMs },
          'deregistration did not finish in time; the record expires within the TTL',
        );
      } else {
        this.log.info('deregistered');
      }
    });
    this.closedEmitter.emit(undefined);
    return this.closing;
  }

  /** etcd refused us permanently: stop, release everything, say why. */
  private fail(error: unknown): void {
    if (this.innerState === 'closed' || this.innerState === 'failed') {
      return;
    }
    this.innerState = 'failed';
    this.failure = error;
    const reason = describeError(error);
    this.log.error({ err: reason }, 'registration refused by etcd; giving up (not retryable)');
    this.failedEmitter.emit({ key: this.key, error, reason });
    void this.close();
  }

  private healthResult(result: HealthResult): void {
    if (result.healthy === this.healthy && this.healthKnown) {
      return;
    }
    this.healthKnown = true;
    this.healthy = result.healthy;
    if (result.healthy) {
      this.log.info('health check passed; publishing');
      this.publishReason = this.innerState === 'starting' ? 'initial' : 'healthy';
      this.update();
    } else {
      this.log.warn({ reason: result.reason }, 'health check failed; withdrawing');
      this.update('unhealthy', result.reason);
    }
  }

  /** Makes the lease's desired state follow `healthy && !paused`. */
  private update(reason?: WithdrawnEvent['reason'], detail?: string): Promise<void> | undefined {
    if (this.closing !== undefined) {
      return undefined;
    }
    const want = this.healthy && !this.paused;
    if (want && !this.attached) {
      this.attached = true;
      this.ref.lease.attach(this.key, this.cfg.value).catch((err: unknown) => {
        if (isPermanentError(err)) {
          this.fail(err);
        }
      });
      return undefined;
    }
    if (!want && (this.attached || (this.innerState === 'starting' && this.healthKnown))) {
      this.attached = false;
      this.innerState = 'withdrawn';
      this.lostAt = undefined;
      const done = this.ref.lease.detach(this.key);
      this.log.info({ reason, detail }, 'withdrawn');
      this.emit(
        this.withdrawnEmitter,
        { key: this.key, reason: reason ?? 'unhealthy', detail },
        'withdrawn',
      );
      return done;
    }
    return undefined;
  }

  private leaseLost(leaseId: string, reason: LeaseLossReason): void {
    if (this.innerState !== 'published') {
      return;
    }
    this.innerState = 'lost';
    this.lostAt = Date.now();
    this.log.info({ leaseId, reason }, 'lease lost; re-registering');
    this.emit(this.lostEmitter, { key: this.key, leaseId, reason }, 'lost');
  }

  private written(leaseId: string, cause: 'attach' | 'restore' | 'heal'): void {
    if (!this.attached || this.closing !== undefined) {
      return;
    }
    const previous = this.innerState;
    this.innerState = 'published';
    if (previous === 'lost' && this.lostAt !== undefined) {
      const outageMs = Date.now() - this.lostAt;
      this.lostAt = undefined;
      this.log.info({ leaseId, outageMs }, 'registration restored');
      this.emit(this.restoredEmitter, { key: this.key, leaseId, outageMs }, 'restored');
    } else if (previous !== 'published' || cause === 'attach') {
      this.log.info({ leaseId, reason: this.publishReason }, 'published');
      this.emit(
        this.publishedEmitter,
        { key: this.key, leaseId, reason: this.publishReason },
        'published',
      );
    }
  }

  private emit<T>(emitter: Emitter<T>, value: T, _name: string): void {
    emitter.emit(value);
  }
}
