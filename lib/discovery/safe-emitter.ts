/**
 * A cockatiel `EventEmitter` whose listeners cannot break the emitter: a listener
 * that throws does not stop the other listeners nor the code that emitted (the
 * watch stream, the resolver). The error is logged and re-thrown in a later
 * macrotask, like etcd3 does for its watch listeners, so it is not swallowed.
 */
import { EventEmitter } from 'cockatiel';
import type { Logger } from '../logger';

export class SafeEventEmitter<T> extends EventEmitter<T> {
  constructor(
    private readonly name: string,
    private readonly log: Logger,
  ) {
    super();
  }

  override emit(value: T): void {
    const l = this.listeners;
    if (!l) {
      return;
    }
    if (typeof l === 'function') {
      this.call(l, value);
      return;
    }
    for (const listener of l.slice()) {
      this.call(listener, value);
    }
  }

  private call(listener: (data: T) => void, value: T): void {
    try {
      listener(value);
    } catch (err) {
      this.log.error({ err, event: this.name }, 'event listener threw');
      setImmediate(() => {
        throw err;
      });
    }
  }
}
