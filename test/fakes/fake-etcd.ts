/**
 * A controllable fake of etcd's gRPC API for unit tests of the pool: a real grpc-js
 * server on 127.0.0.1 serving etcd's own proto (etcd3's `proto/rpc.proto`), so the
 * client under test speaks real gRPC over a real socket, but every reply is chosen by
 * the test: answer, fail with a status after the request arrived, or never answer.
 *
 * Defaults: a tiny in-memory KV (`Put`, exact-key `Range`, `DeleteRange`), `Status`,
 * `MemberList` (empty) and `Authenticate` (token `fake-token`); anything else answers
 * UNIMPLEMENTED. Every request that reaches the server is recorded, so a test can
 * assert how many times a write was really sent.
 */
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const definition = loadSync(require.resolve('etcd3/proto/rpc.proto'), {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const etcdserverpb = (grpc.loadPackageDefinition(definition) as any).etcdserverpb;
const SERVICES = ['KV', 'Lease', 'Cluster', 'Maintenance', 'Auth'] as const;

/** `Service.method` as etcd3 names it, e.g. `KV.put`, `Maintenance.status`. */
export type MethodName = string;

/** What the fake does with one request. */
export type Reply =
  | { readonly ok: object }
  | { readonly code: grpc.status; readonly details: string }
  | { readonly hang: true };

/** Decides the reply to one request; may be async (e.g. to answer late). */
export type Handler = (request: any, metadata: grpc.Metadata) => Reply | Promise<Reply>;

/** A request as the server received it. */
export interface Received {
  readonly method: MethodName;
  readonly request: any;
  readonly metadata: grpc.Metadata;
}

export const HANG: Reply = { hang: true };
export const unavailable = (details = 'etcdserver: request timed out'): Reply => ({
  code: grpc.status.UNAVAILABLE,
  details,
});

export class FakeEtcd {
  /** Every request that arrived, in order. */
  public readonly received: Received[] = [];
  private readonly handlers = new Map<MethodName, Handler>();
  private readonly kv = new Map<string, Buffer>();
  private readonly open = new Set<grpc.ServerUnaryCall<any, any>>();
  private revision = 1;

  private constructor(
    private readonly server: grpc.Server,
    /** Port on 127.0.0.1. */
    public readonly port: number,
  ) {}

  /** Starts a fake on 127.0.0.1:`port` (default: a free port). */
  static async start(port = 0): Promise<FakeEtcd> {
    const server = new grpc.Server();
    const bound = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    const fake = new FakeEtcd(server, bound);
    for (const service of SERVICES) {
      const impl: grpc.UntypedServiceImplementation = {};
      for (const [name, method] of Object.entries<any>(etcdserverpb[service].service)) {
        if (!method.requestStream && !method.responseStream) {
          impl[name] = (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) =>
            fake.serve(`${service}.${method.originalName}`, call, cb);
        }
      }
      server.addService(etcdserverpb[service].service, impl);
    }
    return fake;
  }

  /** `http://127.0.0.1:<port>`, as a client's `hosts` entry. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Sets the handler of `method` (e.g. `KV.put`); replaces the default. */
  on(method: MethodName, handler: Handler): this {
    this.handlers.set(method, handler);
    return this;
  }

  /** Requests of `method` that arrived so far. */
  count(method: MethodName): number {
    return this.received.filter(r => r.method === method).length;
  }

  /** Calls that arrived and were not answered yet (hanging). */
  get pending(): number {
    return this.open.size;
  }

  /** Stops at once, cutting every connection and hanging call. */
  close(): Promise<void> {
    this.server.forceShutdown();
    return Promise.resolve();
  }

  private async serve(
    method: MethodName,
    call: grpc.ServerUnaryCall<any, any>,
    cb: grpc.sendUnaryData<any>,
  ) {
    this.received.push({ method, request: call.request, metadata: call.metadata });
    const handler = this.handlers.get(method) ?? ((req: any) => this.defaultReply(method, req));
    let reply: Reply;
    try {
      reply = await handler(call.request, call.metadata);
    } catch (err) {
      reply = { code: grpc.status.INTERNAL, details: String(err) };
    }
    if ('hang' in reply) {
      this.open.add(call);
      call.once('cancelled', () => this.open.delete(call));
      return;
    }
    if ('ok' in reply) {
      cb(null, reply.ok);
    } else {
      cb({ code: reply.code, details: reply.details, metadata: new grpc.Metadata() });
    }
  }

  private header() {
    return { cluster_id: '1', member_id: '1', revision: String(this.revision), raft_term: '1' };
  }

  private defaultReply(method: MethodName, req: any): Reply {
    switch (method) {
      case 'KV.put':
        this.revision++;
        this.kv.set(Buffer.from(req.key).toString('latin1'), Buffer.from(req.value));
        return { ok: { header: this.header() } };
      case 'KV.range': {
        const value = this.kv.get(Buffer.from(req.key).toString('latin1'));
        const kvs = value
          ? [
              {
                key: req.key,
                value,
                create_revision: '1',
                mod_revision: String(this.revision),
                version: '1',
                lease: '0',
              },
            ]
          : [];
        return { ok: { header: this.header(), kvs, count: String(kvs.length), more: false } };
      }
      case 'KV.deleteRange': {
        const deleted = this.kv.delete(Buffer.from(req.key).toString('latin1'));
        return { ok: { header: this.header(), deleted: deleted ? '1' : '0' } };
      }
      case 'Maintenance.status':
        return { ok: { header: this.header(), version: '3.4.0-fake' } };
      case 'Cluster.memberList':
        return { ok: { header: this.header(), members: [] } };
      case 'Auth.authenticate':
        return { ok: { header: this.header(), token: 'fake-token' } };
      default:
        return { code: grpc.status.UNIMPLEMENTED, details: `${method} is not faked` };
    }
  }
}
