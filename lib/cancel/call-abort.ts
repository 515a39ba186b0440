/**
 * The abort state of one pool call (`exec(service, method, payload, { signal })`): the
 * pool asks it before sending an attempt, hands it each gRPC request in flight (cancelled
 * when the signal aborts), and races the whole call against the signal.
 */
import { abortError, onAbort, raceSignal } from '../policy/abort';

/** Something in flight that can be cancelled (a grpc-js call). */
interface Cancellable {
  cancel(): void;
}

export class CallAbort {
  /** The abort state of a call without a signal: every method is a no-op. */
  static readonly NONE = new CallAbort(undefined, '', true);

  /**
   * True once a request of this call was handed to grpc-js: from then on an aborted
   * write may have been applied.
   */
  private sent = false;

  /**
   * @param signal the caller's signal; without one every method is a no-op
   * @param what the call, for the error message (`KV.put`)
   * @param safe a read or other call that changes nothing (its abort never "may have been applied")
   */
  constructor(
    readonly signal: AbortSignal | undefined,
    private readonly what: string,
    private readonly safe: boolean,
  ) {}

  get aborted(): boolean {
    return this.signal?.aborted === true;
  }

  /** Throws the call's `AbortError` if the signal has aborted (call before sending). */
  check(): void {
    if (this.signal?.aborted) {
      throw this.error();
    }
  }

  /**
   * `request` was just sent: cancel it if the signal aborts. Returns the function to
   * call when it settles.
   */
  track(request: Cancellable): () => void {
    if (!this.signal) {
      return noop;
    }
    this.sent = true;
    return onAbort(this.signal, () => request.cancel());
  }

  /** Settles like `work`, or rejects with the call's `AbortError` as soon as the signal aborts. */
  race<T>(work: Promise<T>): Promise<T> {
    return raceSignal(work, this.signal, () => this.error());
  }

  private error(): Error {
    return abortError(this.signal!, this.what, this.sent && !this.safe);
  }
}

function noop(): void {}
