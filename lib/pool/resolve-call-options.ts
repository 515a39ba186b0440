/**
 * A call's options as the pool uses them: the caller's (read once, see
 * `readCallOptions`) merged with `defaultCallOptions` as etcd3 does, with the
 * deadline checked before anything is sent.
 */
import type { CallOptions } from '@grpc/grpc-js';
import { resolveCallOptions, type CallOptionsFactory } from '../internals/etcd3';
import { readCallOptions } from '../policy/call-options';
import { deadlineMs } from '../policy/deadline';

/** What a `defaultCallOptions` function is told about the call. */
export interface CallDescription {
  readonly service: string;
  readonly method: string;
  readonly params?: unknown;
  readonly isStream: boolean;
}

/**
 * Throws `InvalidOptionError` for options that cannot be read or a `signal` that is
 * not an `AbortSignal`, and naming `callOptions.deadline` or
 * `defaultCallOptions.deadline` for a deadline that is not a valid time. `deadlineAt`
 * is the deadline in epoch ms: `undefined` when none is set (the pool's
 * `callTimeoutMs` applies), `Infinity` when the caller asked for none.
 */
export function callOptionsFor(
  options: CallOptions | undefined,
  defaults: CallOptionsFactory | undefined,
  context: CallDescription,
): { callOptions: CallOptions; deadlineAt?: number } {
  const own = readCallOptions(options, 'callOptions'); // read once; hostile shapes throw typed
  const callOptions: CallOptions = resolveCallOptions(own, defaults, context as any) ?? {};
  const field =
    own?.deadline !== undefined ? 'callOptions.deadline' : 'defaultCallOptions.deadline';
  const ms = deadlineMs(callOptions.deadline, field);
  return {
    callOptions,
    deadlineAt: ms ?? (callOptions.deadline === Infinity ? Infinity : undefined),
  };
}
