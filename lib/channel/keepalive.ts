/**
 * Maps keepalive settings in our own terms to grpc-js channel options.
 */
import type { ChannelOptions } from '@grpc/grpc-js';
import type { KeepaliveOptions } from '../policy/option-groups';

/** Keepalive settings with every default filled in (see `policy/option-groups.ts`). */
export type KeepaliveSettings = Required<KeepaliveOptions>;

/**
 * Channel options for keepalive and fast reconnects. Keys the user already set in
 * `userOptions` win: they are applied last.
 */
export function keepaliveChannelOptions(
  settings: KeepaliveSettings,
  userOptions: ChannelOptions = {},
): ChannelOptions {
  return {
    'grpc.keepalive_time_ms': settings.timeMs,
    'grpc.keepalive_timeout_ms': settings.timeoutMs,
    'grpc.keepalive_permit_without_calls': settings.permitWithoutCalls ? 1 : 0,
    // grpc-js backs off reconnects up to 120 s by default: after a long outage the
    // first call would wait that long. Keep reconnect attempts under a second apart;
    // our own rebuild backoff limits storms against a flapping endpoint.
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 800,
    ...userOptions,
  };
}
