/**
 * The library's one rule for events: a listener that throws never changes library
 * state, never stops the other listeners, never changes the outcome of a call and
 * never throws into grpc-js or etcd3 callbacks. Its error is logged at `error`
 * level (secret-free) and dropped.
 *
 * Events are exposed as cockatiel `Event<T>` properties: call one with a listener,
 * get an `IDisposable` back (`client.onStateChange(e => ...)`).
 */
import type { Event, IDisposable } from 'cockatiel';
import { noopLogger, type Logger } from './logger';
import { describeError } from './policy/describe-error';

export type { Event, IDisposable };

/**
 * An event source whose listeners cannot hurt the emitter. `event` is the public
 * `Event<T>`; `emit` calls each listener in its own try/catch, in subscription order,
 * over a snapshot (a listener added or removed during an emit takes effect next time).
 */
export class Emitter<T> {
  private listeners: Array<(value: T) => void> = [];

  /**
   * @param name event name, for the log line when a listener throws
   * @param log where a throwing listener is reported (at `error`)
   */
  constructor(
    private readonly name: string,
    private log: Logger = noopLogger,
  ) {}

  /** Subscribe; the returned `IDisposable` unsubscribes (idempotent). */
  public readonly event: Event<T> = (listener: (value: T) => void): IDisposable => {
    if (typeof listener !== 'function') {
      throw new TypeError(`${this.name} listener must be a function`);
    }
    // Wrap so that one function subscribed twice is removed one subscription at a time.
    const entry = (value: T) => listener(value);
    this.listeners = [...this.listeners, entry];
    let disposed = false;
    return {
      dispose: () => {
        if (!disposed) {
          disposed = true;
          this.listeners = this.listeners.filter(l => l !== entry);
        }
      },
    };
  };

  /** Number of listeners. */
  get size(): number {
    return this.listeners.length;
  }

  /** Sets the logger after construction (components that learn theirs later). */
  setLogger(log: Logger): void {
    this.log = log;
  }

  /** Calls every listener with `value`. Never throws. */
  emit(value: T): void {
    for (const listener of this.listeners) {
      try {
        listener(value);
      } catch (err) {
        try {
          this.log.error(
            { event: this.name, err: describeError(err) },
            'event listener threw; ignored',
          );
        } catch {
          // A broken logger must not break the emitter either.
        }
      }
    }
  }

  /** Removes every listener. */
  clear(): void {
    this.listeners = [];
  }
}
