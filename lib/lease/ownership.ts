/**
 * One holder's ownership of something (a lease, a lock, an election term): an
 * `AbortSignal` aborted when it ends for any reason, and an `onLost` event for the
 * involuntary ends. Shared by leases, locks and campaigns.
 */
import { Emitter, type Event } from '../events';
import type { Logger } from '../logger';
import { OwnershipEndedError, type OwnershipEnd } from './ownership-ended-error';

export class Ownership {
  private readonly controller = new AbortController();
  private readonly lostEmitter: Emitter<Error>;
  private lostError: Error | undefined;

  /** Fires once when ownership is lost (not when given up on purpose), with the cause. */
  public readonly onLost: Event<Error>;

  constructor(name: string, log?: Logger) {
    this.lostEmitter = new Emitter<Error>(`${name}.lost`, log);
    this.onLost = this.lostEmitter.event;
  }

  /** Aborted when ownership ends; `signal.reason` says why. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** True once ended (lost or given up). */
  get ended(): boolean {
    return this.controller.signal.aborted;
  }

  /** The loss cause, if ownership was lost. */
  get lost(): Error | undefined {
    return this.lostError;
  }

  /** Ends ownership involuntarily: aborts the signal, then fires `onLost`. No-op once ended. */
  lose(err: Error): void {
    if (this.ended) {
      return;
    }
    this.lostError = err;
    this.controller.abort(err);
    this.lostEmitter.emit(err);
    this.lostEmitter.clear();
  }

  /** Ends ownership on purpose: aborts the signal; `onLost` does not fire. No-op once ended. */
  end(how: OwnershipEnd): void {
    if (!this.ended) {
      this.controller.abort(new OwnershipEndedError(how));
      this.lostEmitter.clear();
    }
  }
}
