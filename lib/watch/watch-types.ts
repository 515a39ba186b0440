/** The types shared by the watch hub and its users. */
import type { IWatchResponse } from 'etcd3';
import type { Logger } from '../logger';

/** A watch as the hub sees it; implemented by its owner (a discovery or a key guard). */
export interface WatchTarget {
  /** First key of the range, namespace included. */
  readonly key: Buffer;
  /** End of the range (exclusive), namespace included. */
  readonly rangeEnd: Buffer;
  /** Revision to (re)start from; asked each time the watch is created. */
  startRevision(): number;
  /** A response with events, or a per-watch progress notification (no events). */
  onResponse(res: IWatchResponse): void;
  /** The server cancelled the watch (compaction, error); the hub has forgotten it. */
  onCanceled(res: IWatchResponse): void;
  /** The stream broke or stalled; the watch will be re-created on a new stream. */
  onDisconnected(err: Error): void;
}

/** Counters, for tests and the scale script. */
export interface WatchHubStats {
  /** Streams opened so far. */
  streamsOpened: number;
  /** 1 while a stream is open, else 0. */
  streamsOpen: number;
  /** Watches attached (created or waiting to be). */
  watches: number;
  progressRequests: number;
  stalls: number;
  /** Stream failures (including stalls). */
  failures: number;
}

/** A {@link WatchHubStats} with every counter at zero (a fresh object each call). */
export function zeroWatchHubStats(): WatchHubStats {
  return {
    streamsOpened: 0,
    streamsOpen: 0,
    watches: 0,
    progressRequests: 0,
    stalls: 0,
    failures: 0,
  };
}

/** Options of a hub; fixed by the first user (discovery or key guard) of the pool. */
export interface WatchHubOptions {
  readonly requireLeader: boolean;
  readonly retryInitialDelayMs: number;
  readonly retryMaxDelayMs: number;
  readonly logger: Logger;
}

/** A watch attached to a hub. */
export interface HubWatch {
  /** Cancels the watch (idempotent). */
  detach(): void;
}
