/** The events of the call loop, published by the pool as `onRetry` and `onCall`. */

/** Emitted before a retry round. */
export interface RetryEvent {
  readonly method: string;
  /** 1 for the first retry. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
}

/** Emitted when a unary call settles. */
export interface CallEvent {
  readonly service: string;
  readonly method: string;
  /** Endpoint of the last attempt, if one was made. */
  readonly endpoint?: string;
  readonly durationMs: number;
  /** `OK`, a gRPC status name such as `UNAVAILABLE`, or our error's `code`. */
  readonly code: string;
}
