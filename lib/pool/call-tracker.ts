/**
 * The unary calls and streams in flight on one endpoint's current channel generation,
 * so that a rebuild ends them at once (reads are retried on the new connection, a
 * watch resumes elsewhere) instead of at their deadline: grpc-js would let them run on
 * a connection that is being replaced.
 */
import type { Cancellable } from './endpoint-types';

export class CallTracker {
  private readonly streams = new Set<Cancellable>();
  /** Unary calls in flight, with `Date.now()` of their start (a Map keeps insertion order). */
  private calls = new Map<Cancellable, number>();
  /** Of `calls`, those a rebuild leaves running (sent writes); see {@link trackCall}. */
  private readonly keptOnRebuild = new Set<Cancellable>();

  /** Tracks a stream until it closes, ends or errors. */
  track(stream: Cancellable & { once(event: string, fn: () => void): unknown }): void {
    this.streams.add(stream);
    const forget = () => this.streams.delete(stream);
    stream.once('close', forget);
    stream.once('error', forget);
    stream.once('end', forget);
  }

  /**
   * Tracks a unary call until {@link untrackCall}. With `keepOnRebuild` (a write that
   * was sent) a rebuild leaves it running on the old connection until its own
   * deadline: cancelling it would not take it back, only lose its answer if the member
   * answers after all. {@link cancelAll} still cancels it.
   */
  trackCall(call: Cancellable, keepOnRebuild = false): void {
    this.calls.set(call, Date.now());
    if (keepOnRebuild) {
      this.keptOnRebuild.add(call);
    }
  }

  untrackCall(call: Cancellable): void {
    this.calls.delete(call);
    this.keptOnRebuild.delete(call);
  }

  /** How long the oldest call in flight has gone unanswered, in ms (0: none). */
  oldestCallAgeMs(now = Date.now()): number {
    for (const startedAt of this.calls.values()) {
      return now - startedAt; // the first is the oldest
    }
    return 0;
  }

  /** Cancels the streams and calls of a generation being replaced, except sent writes. */
  cancelForRebuild(): void {
    const cancel = [...this.calls.keys()].filter(c => !this.keptOnRebuild.has(c));
    // Kept writes stay tracked, so that cancelAll() still cancels them.
    this.calls = new Map([...this.calls].filter(([c]) => this.keptOnRebuild.has(c)));
    this.cancel([...this.takeStreams(), ...cancel]);
  }

  /** Cancels everything tracked (the endpoint closes). */
  cancelAll(): void {
    const calls = [...this.calls.keys()];
    this.calls = new Map();
    this.keptOnRebuild.clear();
    this.cancel([...this.takeStreams(), ...calls]);
  }

  private takeStreams(): Cancellable[] {
    const streams = [...this.streams];
    this.streams.clear();
    return streams;
  }

  private cancel(items: Cancellable[]): void {
    for (const item of items) {
      item.cancel();
    }
  }
}
