/**
 * `signal` in the call options of a `createGrpcClient` client, as nice-grpc has it:
 * `client.getUser(req, metadata, { signal }, cb)`. The outermost interceptor: an
 * already-aborted signal sends nothing (the call ends at once, asynchronously, with
 * CANCELLED); an abort later cancels the call (and its retries) with CANCELLED. The
 * signal is not passed down to grpc-js.
 */
import {
  InterceptingCall,
  Metadata,
  status as Status,
  type Interceptor,
  type InterceptorOptions,
} from '@grpc/grpc-js';
import { onAbort } from '../policy/abort';

const DETAILS = 'The call was aborted (AbortSignal)';

type NextCall = Parameters<Interceptor>[1];
/** Stands in for the call an already-aborted signal never creates. */
const NEVER_STARTED: ReturnType<NextCall> = {
  start: () => undefined,
  sendMessageWithContext: () => undefined,
  sendMessage: () => undefined,
  startRead: () => undefined,
  halfClose: () => undefined,
  cancelWithStatus: () => undefined,
  getPeer: () => '',
  getAuthContext: () => null,
};

/** The interceptor; put it first. Calls without `signal` pass through untouched. */
export function abortInterceptor(): Interceptor {
  return (options, nextCall) => {
    const signal = (options as InterceptorOptions & { signal?: AbortSignal }).signal;
    if (!signal) {
      return new InterceptingCall(nextCall(options));
    }
    if (signal.aborted) {
      // Never create the call below: nothing reaches the channel (nor starts a span).
      // grpc-js expects the status after the method returned, hence the tick.
      return new InterceptingCall(NEVER_STARTED, {
        start: (_metadata, listener) => {
          process.nextTick(() =>
            listener.onReceiveStatus?.({
              code: Status.CANCELLED,
              details: DETAILS,
              metadata: new Metadata(),
            }),
          );
        },
        sendMessage: () => undefined,
        halfClose: () => undefined,
      });
    }
    const rest = { ...options } as InterceptorOptions & { signal?: AbortSignal };
    delete rest.signal;
    const call = nextCall(rest);
    let off: () => void = () => undefined;
    const intercepting: InterceptingCall = new InterceptingCall(call, {
      start: (metadata, _listener, next) => {
        next(metadata, {
          onReceiveStatus: (status, nextStatus) => {
            off();
            nextStatus(status);
          },
        });
        off = onAbort(signal, () => intercepting.cancelWithStatus(Status.CANCELLED, DETAILS));
      },
    });
    return intercepting;
  };
}
