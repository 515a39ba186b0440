/**
 * An interruptible sleep: `sleep(ms)` resolves after `ms` (unref'd timer) or as
 * soon as `wake()` is called, whichever is first. Used to cut a backoff short
 * when there is news (a reconnect, new work, close).
 */
export class Waker {
  private sleepers = new Set<() => void>();

  /** Resolves after `ms`, or on the next {@link wake}. Never rejects. */
  sleep(ms: number): Promise<void> {
    return new Promise(resolve => {
      const done = () => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref?.();
      this.sleepers.add(done);
    });
  }

  /** Ends every current sleep now. */
  wake(): void {
    for (const done of [...this.sleepers]) {
      done();
    }
  }
}
