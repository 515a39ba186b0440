import { connectivityState } from '@grpc/grpc-js';

/** A gRPC channel's connectivity state, by name. */
export type ChannelState = 'IDLE' | 'CONNECTING' | 'READY' | 'TRANSIENT_FAILURE' | 'SHUTDOWN';

/** Name of a grpc-js `connectivityState` value. */
export const stateName = (s: connectivityState): ChannelState =>
  (connectivityState[s] as ChannelState | undefined) ?? 'SHUTDOWN';
