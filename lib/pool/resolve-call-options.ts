/**
 * A call's options as the pool uses them: the caller's (read once, see
 * `readCallOptions`) merged with `defaultCallOptions` as etcd3 does, with the
 * deadline checked before anything is sent.
 */
import type { CallOptions } from '@grpc/grpc-js';
import { resolveCallOptions, type CallOptionsFactory } from '../internals/etcd3';
import { readCallOptions } from '../policy/call-options';
import { deadlineMs } from '../policy/deadline';

/** Options of a call made without any (no call options, no `defaultCallOptions`). */
const NONE: { callOptions: CallOptions; deadlineAt?: number } = Object.freeze({
  callOptions: Object.freeze({}),
});

/**
 * Throws `InvalidOptionError` for options that cannot be read or a `signal` that is
 * not an `AbortSignal`, and naming `callOptions.deadline` or
 * `defaultCallOptions.deadline` for a deadline that is not a valid time. `deadlineAt`
 * is the deadline in epoch ms: `undefined` when none is set (the pool's
 * `callTimeoutMs` applies), `Infinity` when the caller asked for none. `service`,
 * `method`, `params` and `isStream` are what a `defaultCallOptions` function is told.
 */
export function callOptionsFor(
  options: CallOptions | undefined,
  defaults: CallOptionsFactory | undefined,
  service: string,
  method: string,
  params?: unknown,
  isStream = false,
): { callOptions: CallOptions; deadlineAt?: number } {
  if (options === undefined && defaults === undefined) {
    return NONE;
  }
  const own = readCallOptions(options, 'callOptions'); // read once; hostile shapes throw typed
  const context = typeof defaults === 'function' ? { service, method, params, isStream } : {};
  const callOptions: CallOptions = resolveCallOptions(own, defaults, context as any) ?? {};
  const field =
    own?.deadline !== undefined ? 'callOptions.deadline' : 'defaultCallOptions.deadline';
  const ms = deadlineMs(callOptions.deadline, field);
  return {
    callOptions,
    deadlineAt: ms ?? (callOptions.deadline === Infinity ? Infinity : undefined),
  };
}
