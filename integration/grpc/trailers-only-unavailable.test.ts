/**
 * Issue 10 adversary, against findings 2/3: "a status that came from a server has
 * non-empty metadata" does not hold for every server. A server or proxy answering
 * trailers-only `grpc-status: 14` with no `content-type` and no `date` gives grpc-js
 * a status with EMPTY metadata, indistinguishable by metadata from one grpc-js made
 * up locally. With a "never sent" text (`connect ECONNREFUSED …`, `No connection
 * established`) createGrpcClient resent a non-idempotent call 4 times. The fact used
 * now is whether a stream was started (the call's peer is a transport address).
 * A real grpc-js server always sends `content-type` (checked here too).
 */
import * as http2 from 'node:http2';
import type * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGrpcClient } from '../../lib/grpc/create-client';
import { fromServer } from '../../lib/policy/never-sent';
import { EchoClient, echo, startEchoServer, type EchoServer } from '../../test/grpc/echo-service';

/** A raw HTTP/2 server answering every call trailers-only with `headers`; counts calls. */
async function rawServer(headers: http2.OutgoingHttpHeaders) {
  let streams = 0;
  const server = http2.createServer();
  server.on('stream', stream => {
    streams++;
    stream.on('error', () => undefined);
    // sendDate: false — Node would otherwise add a `date` header.
    stream.respond({ ':status': 200, ...headers }, {
      endStream: true,
      sendDate: false,
    } as http2.ServerStreamResponseOptions);
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    target: `127.0.0.1:${port}`,
    streams: () => streams,
    close: () => new Promise<void>(r => server.close(() => r())),
  };
}

const texts = [
  'connect ECONNREFUSED 10.0.0.9:5672',
  'No connection established',
  'Stream refused by server',
  'Channel closed before call started',
];

describe('UNAVAILABLE trailers-only with no metadata (no content-type, no date)', () => {
  let servers: Awaited<ReturnType<typeof rawServer>>[];
  beforeAll(async () => {
    servers = await Promise.all(
      texts.map(t => rawServer({ 'grpc-status': '14', 'grpc-message': t })),
    );
  });
  afterAll(async () => {
    await Promise.all(servers.map(s => s.close()));
  });

  it('grpc-js gives the status empty metadata (why metadata alone is not the fact)', async () => {
    const plain = new EchoClient(servers[0]!.target, grpc.credentials.createInsecure());
    const err = (await echo(
      plain as never,
      { message: 'x' },
      {
        deadline: Date.now() + 5000,
      },
    ).catch(e => e)) as grpc.ServiceError;
    plain.close();
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(Object.keys(err.metadata.getMap())).toEqual([]);
    expect(fromServer(err)).toBe(false);
  });

  it.each(texts.map((t, i) => [t, i] as const))(
    'a non-idempotent call answered "%s" is sent once, not retried',
    async (_text, i) => {
      const s = servers[i]!;
      const before = s.streams();
      const client = createGrpcClient(EchoClient, s.target, { callTimeoutMs: 3000 });
      try {
        const err = (await echo(client as never, { message: 'charge' }).catch(
          e => e,
        )) as grpc.ServiceError;
        expect(err.code).toBe(grpc.status.UNAVAILABLE);
        expect(s.streams() - before).toBe(1);
      } finally {
        await client.close();
      }
    },
  );
});

describe('a real grpc-js server answering UNAVAILABLE with no custom metadata', () => {
  let server: EchoServer;
  beforeAll(async () => {
    server = await startEchoServer('s');
  });
  afterAll(() => server?.kill());

  it('still carries content-type in the status metadata, and the call is not retried', async () => {
    const plain = new EchoClient(server.addr, grpc.credentials.createInsecure());
    const err = (await echo(
      plain as never,
      {
        message: 'x',
        failWith: grpc.status.UNAVAILABLE,
      },
      { deadline: Date.now() + 5000 },
    ).catch(e => e)) as grpc.ServiceError;
    plain.close();
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(String(err.metadata.get('content-type')[0])).toMatch(/^application\/grpc/);
    expect(fromServer(err)).toBe(true);
  });
});
