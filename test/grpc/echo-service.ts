/**
 * A tiny gRPC service for tests, defined in code with JSON serialisation (no
 * codegen): `Echo/Echo` (unary) answers `{ from, message }` with the server's name,
 * `Echo/Count` (server streaming) sends `n` messages.
 */
import * as grpc from '@grpc/grpc-js';

const json = {
  serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
  deserialize: (buf: Buffer) => JSON.parse(buf.toString()),
};

/** A method definition at `path` with JSON requests and responses; unary unless `responseStream`. */
export const jsonMethod = (path: string, responseStream = false) => ({
  path,
  requestStream: false,
  responseStream,
  requestSerialize: json.serialize,
  requestDeserialize: json.deserialize,
  responseSerialize: json.serialize,
  responseDeserialize: json.deserialize,
});

export interface EchoRequest {
  message: string;
  /** Server waits this long before answering, in ms. */
  delayMs?: number;
  /** Server answers with this gRPC status code instead. */
  failWith?: number;
  /** With `failWith`: fail only the first this-many calls carrying the same `message`. */
  failFirst?: number;
}
export interface EchoReply {
  from: string;
  message: string;
}

/** Method definitions of the test service. */
export const echoDefinition = {
  Echo: { ...jsonMethod('/test.Echo/Echo'), originalName: 'echo' },
  Count: jsonMethod('/test.Echo/Count', true),
} satisfies grpc.ServiceDefinition;

/** The generated-style client class. */
export const EchoClient = grpc.makeGenericClientConstructor(echoDefinition, 'Echo');
/** An instance of {@link EchoClient}, typed. */
export type EchoClientInstance = grpc.Client & {
  echo(
    req: EchoRequest,
    cb: (err: grpc.ServiceError | null, res?: EchoReply) => void,
  ): grpc.ClientUnaryCall;
  echo(
    req: EchoRequest,
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: EchoReply) => void,
  ): grpc.ClientUnaryCall;
  Echo(
    req: EchoRequest,
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: EchoReply) => void,
  ): grpc.ClientUnaryCall;
  Count(req: { n: number }): grpc.ClientReadableStream<{ i: number }>;
};

/** Promise form of one `Echo` call. */
export function echo(
  client: grpc.Client,
  req: EchoRequest,
  opts: grpc.CallOptions = {},
): Promise<EchoReply> {
  return new Promise((resolve, reject) => {
    (client as EchoClientInstance).Echo(req, new grpc.Metadata(), opts, (err, res) =>
      err ? reject(err) : resolve(res!),
    );
  });
}

/** A running test server. */
export interface EchoServer {
  readonly name: string;
  readonly port: number;
  /** `127.0.0.1:<port>`. */
  readonly addr: string;
  /** Calls received, by method name. */
  readonly calls: { Echo: number; Count: number };
  /** Closes at once, cancelling calls in progress. Idempotent. */
  kill(): void;
}

/** Starts the test service on 127.0.0.1, on `port` or a free one. */
export async function startEchoServer(name: string, port = 0): Promise<EchoServer> {
  const server = new grpc.Server();
  const calls = { Echo: 0, Count: 0 };
  const failures = new Map<string, number>();
  server.addService(echoDefinition, {
    Echo: (
      call: grpc.ServerUnaryCall<EchoRequest, EchoReply>,
      cb: grpc.sendUnaryData<EchoReply>,
    ) => {
      calls.Echo++;
      const { message, delayMs = 0, failWith, failFirst } = call.request;
      const seen = (failures.get(message) ?? 0) + 1;
      failures.set(message, seen);
      const fail = failWith !== undefined && (failFirst === undefined || seen <= failFirst);
      const answer = () =>
        fail
          ? cb({ code: failWith, details: `asked to fail by ${name}` })
          : cb(null, { from: name, message });
      if (delayMs > 0) {
        setTimeout(answer, delayMs).unref();
      } else {
        answer();
      }
    },
    Count: (call: grpc.ServerWritableStream<{ n: number }, { i: number }>) => {
      calls.Count++;
      for (let i = 0; i < Math.min(call.request.n, 1000); i++) {
        call.write({ i });
      }
      call.end();
    },
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  let killed = false;
  return {
    name,
    port: bound,
    addr: `127.0.0.1:${bound}`,
    calls,
    kill() {
      if (!killed) {
        killed = true;
        server.forceShutdown();
      }
    },
  };
}
