/**
 * Backoff between retry attempts: cockatiel's exponential backoff with decorrelated
 * jitter, cut short so that the next attempt still starts before the call's deadline.
 * Used by the etcd pool's retry rounds and by `createGrpcClient`'s retries.
 */
import type { IBackoff, IBackoffFactory, IRetryBackoffContext } from 'cockatiel';

/** Returns the `Date.now()` deadline of the call that failed with `err`, if known. */
export type DeadlineOf = (err: unknown) => number | undefined;

/** Smallest slice of time worth starting another round with. */
const MIN_ROUND_MS = 5;

export class DeadlineBackoff implements IBackoffFactory<IRetryBackoffContext<unknown>> {
  constructor(
    private readonly inner: IBackoffFactory<unknown>,
    private readonly deadlineOf: DeadlineOf,
  ) {}

  next(context: IRetryBackoffContext<unknown>): IBackoff<IRetryBackoffContext<unknown>> {
    return this.cap(this.inner.next(context), context);
  }

  private cap(
    backoff: IBackoff<unknown>,
    context: IRetryBackoffContext<unknown>,
  ): IBackoff<IRetryBackoffContext<unknown>> {
    const deadline = 'error' in context.result ? this.deadlineOf(context.result.error) : undefined;
    const room = deadline === undefined ? Infinity : deadline - Date.now() - MIN_ROUND_MS;
    return {
      duration: Math.max(0, Math.min(backoff.duration, room)),
      next: ctx => this.cap(backoff.next(ctx), ctx),
    };
  }
}
