/**
 * The interceptor behind `createGrpcClient`: rejects a bad call deadline with
 * `InvalidOptionError` (thrown by the call method), gives unary calls a default deadline
 * and runs them through the client's retry + circuit-breaker policy, one grpc-js
 * call per attempt, all sharing the call's deadline. The caller sees one call:
 * the metadata, message and status of the last attempt. Streaming calls pass
 * through untouched (a stream cannot be replayed), but are counted in flight so
 * that `close()` can wait for them.
 */
import {
  InterceptingCall,
  Metadata,
  status as Status,
  type Interceptor,
  type InterceptorOptions,
  type StatusObject,
} from '@grpc/grpc-js';
import { isBrokenCircuitError, type IPolicy } from 'cockatiel';
import { deadlineMs } from '../policy/deadline';
import { streamStarted } from '../policy/stream-started';
import {
  AttemptFailedError,
  attemptNeverSent,
  makeStatus,
  matchesMethod,
  notSentStatus,
} from './call-status';

type NextCall = Parameters<Interceptor>[1];
type CallInterface = ReturnType<NextCall>;
type Listener = Parameters<CallInterface['start']>[1];
type MessageContext = Parameters<CallInterface['sendMessageWithContext']>[0];

/** What the interceptor needs from its client. */
export interface CallHost {
  /** Retry + breaker, shared by every call of the client. */
  readonly policy: IPolicy;
  readonly callTimeoutMs: number;
  readonly idempotentMethods: ReadonlySet<string>;
  /** Non-undefined once the client is closing: the status new calls fail with. */
  closedStatus(): StatusObject | undefined;
  /** Describes the target for error messages. */
  readonly target: string;
  /** A call started; `close()` cancels it if it outlives `closeTimeoutMs`. */
  callStarted(call: Cancellable): void;
  callEnded(call: Cancellable): void;
}

/** A call in flight, as the host tracks it. */
export interface Cancellable {
  cancelWithStatus(code: Status, details: string): void;
}

interface AttemptResult {
  headers: Metadata | undefined;
  message: unknown;
  status: StatusObject;
}

/** Creates the client interceptor for `host`. */
export function resilientInterceptor(host: CallHost): Interceptor {
  return (options, nextCall) => {
    // A deadline grpc-js cannot use ('soon', NaN, an invalid Date) is the caller's
    // mistake: thrown from the call itself (InvalidOptionError), before anything is sent.
    const given = deadlineMs(options.deadline, 'deadline');
    const def = options.method_definition;
    if (def.requestStream || def.responseStream) {
      return new InterceptingCall(new TrackedCall(host, () => nextCall(options)));
    }
    // `Infinity` is grpc-js's explicit "no deadline": kept.
    const deadline =
      options.deadline === Infinity ? Infinity : (given ?? Date.now() + host.callTimeoutMs);
    return new InterceptingCall(new ResilientUnaryCall(host, { ...options, deadline }, nextCall));
  };
}

/** A unary call made of one or more attempts. */
class ResilientUnaryCall implements CallInterface {
  private metadata = new Metadata();
  private listener: Listener;
  private context: MessageContext = {};
  private message: unknown;
  private current: CallInterface | undefined;
  private readonly abort = new AbortController();
  private finished = false;
  private readonly idempotent: boolean;
  private readonly deadlineMs: number;

  constructor(
    private readonly host: CallHost,
    private readonly options: InterceptorOptions,
    private readonly nextCall: NextCall,
  ) {
    this.idempotent = matchesMethod(host.idempotentMethods, options.method_definition.path);
    const d = options.deadline!;
    this.deadlineMs = d instanceof Date ? d.getTime() : Number(d);
  }

  start(metadata: Metadata, listener?: Listener): void {
    this.metadata = metadata;
    this.listener = listener;
  }

  sendMessageWithContext(context: MessageContext, message: unknown): void {
    this.context = context;
    this.message = message;
  }

  sendMessage(message: unknown): void {
    this.sendMessageWithContext({}, message);
  }

  startRead(): void {
    // Unary attempts read by themselves (grpc-js's bottom call for unary methods).
  }

  halfClose(): void {
    const closed = this.host.closedStatus();
    if (closed) {
      process.nextTick(() =>
        this.finish({ headers: undefined, message: undefined, status: closed }),
      );
      return;
    }
    this.host.callStarted(this);
    void this.run();
  }

  cancelWithStatus(code: Status, details: string): void {
    if (this.finished) {
      return;
    }
    this.abort.abort();
    this.current?.cancelWithStatus(code, details);
    this.finish({ headers: undefined, message: undefined, status: makeStatus(code, details) });
  }

  getPeer(): string {
    return this.current?.getPeer() ?? '';
  }

  getAuthContext(): ReturnType<CallInterface['getAuthContext']> {
    return this.current?.getAuthContext() ?? null;
  }

  private async run(): Promise<void> {
    let result: AttemptResult;
    try {
      result = await this.host.policy.execute(() => this.attempt(), this.abort.signal);
    } catch (err) {
      result = { headers: undefined, message: undefined, status: this.statusOf(err) };
    } finally {
      this.host.callEnded(this);
    }
    this.finish(result);
  }

  private attempt(): Promise<AttemptResult> {
    if (this.abort.signal.aborted) {
      return Promise.reject(
        new AttemptFailedError(
          makeStatus(Status.CANCELLED, 'Cancelled on client'),
          this.options.method_definition.path,
          false,
          this.deadlineMs,
          false,
        ),
      );
    }
    return new Promise<AttemptResult>((resolve, reject) => {
      const call = this.nextCall(this.options);
      this.current = call;
      let headers: Metadata | undefined;
      let message: unknown;
      call.start(this.metadata.clone(), {
        onReceiveMetadata: m => (headers = m),
        onReceiveMessage: m => (message = m),
        onReceiveStatus: status =>
          status.code === Status.OK
            ? resolve({ headers, message, status })
            : reject(
                new AttemptFailedError(
                  status,
                  this.options.method_definition.path,
                  this.idempotent,
                  this.deadlineMs,
                  // Response headers came from a server, or a stream was started on a
                  // connection (a trailers-only answer may carry no metadata at all):
                  // sent, whatever the status says.
                  attemptNeverSent(status, headers !== undefined || startedOn(call)),
                ),
              ),
      });
      call.sendMessageWithContext(this.context, this.message);
      call.halfClose();
    });
  }

  private statusOf(err: unknown): StatusObject {
    if (err instanceof AttemptFailedError) {
      return err.status;
    }
    if (isBrokenCircuitError(err)) {
      return notSentStatus(
        Status.UNAVAILABLE,
        `circuit breaker for "${this.host.target}" is open after repeated failures; call not sent`,
      );
    }
    return makeStatus(
      Status.INTERNAL,
      `etcd3-resilient grpc client: ${err instanceof Error ? err.message : String(err)}`,
    );
  }

  private finish(result: AttemptResult): void {
    if (this.finished) {
      return;
    }
    this.finished = true;
    const l = this.listener;
    if (result.headers) {
      l?.onReceiveMetadata?.(result.headers);
    }
    if (result.status.code === Status.OK) {
      l?.onReceiveMessage?.(result.message);
    }
    l?.onReceiveStatus?.(result.status);
  }
}

/** A streaming call, passed through and counted while in flight. */
class TrackedCall implements CallInterface {
  /** The real call; undefined if the client was closed when the call started. */
  private inner: CallInterface | undefined;
  private ended = false;

  constructor(
    private readonly host: CallHost,
    private readonly makeInner: () => CallInterface,
  ) {}

  start(metadata: Metadata, listener?: Listener): void {
    const closed = this.host.closedStatus();
    if (closed) {
      process.nextTick(() => listener?.onReceiveStatus?.(closed));
      return;
    }
    this.host.callStarted(this);
    this.inner = this.makeInner();
    this.inner.start(metadata, {
      ...listener,
      onReceiveStatus: status => {
        if (!this.ended) {
          this.ended = true;
          this.host.callEnded(this);
        }
        listener?.onReceiveStatus?.(status);
      },
    });
  }

  sendMessageWithContext(context: MessageContext, message: unknown): void {
    this.inner?.sendMessageWithContext(context, message);
  }

  sendMessage(message: unknown): void {
    this.inner?.sendMessage(message);
  }

  startRead(): void {
    this.inner?.startRead();
  }

  halfClose(): void {
    this.inner?.halfClose();
  }

  cancelWithStatus(code: Status, details: string): void {
    this.inner?.cancelWithStatus(code, details);
  }

  getPeer(): string {
    return this.inner?.getPeer() ?? '';
  }

  getAuthContext(): ReturnType<CallInterface['getAuthContext']> {
    return this.inner?.getAuthContext() ?? null;
  }
}

/** True if `call` started a stream on a connection ({@link streamStarted}); never throws. */
function startedOn(call: { getPeer(): string }): boolean {
  try {
    return streamStarted(call.getPeer());
  } catch {
    return false;
  }
}
