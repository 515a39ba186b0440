/**
 * Issue 10 (adversary finding A): a gateway answering every call
 * trailers-only `grpc-status: 14` with a "never sent" text and NO metadata (no
 * content-type, no date) makes a plain Put (no retryWrites) be sent 5 times: the
 * pool decides "never sent" from metadata + text, and this status has empty metadata
 * although the request reached the gateway. Expected: sent once, rejected with
 * WriteOutcomeUnknownError / GRPCUnavailableError.
 */
import * as http2 from 'node:http2';
import type * as net from 'node:net';
import { GRPCUnavailableError } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from '../../lib/client';

describe('pool: trailers-only UNAVAILABLE with no metadata', () => {
  let server: http2.Http2Server;
  let port: number;
  const puts: string[] = [];
  beforeAll(async () => {
    server = http2.createServer();
    server.on('stream', (stream, headers) => {
      if (String(headers[':path']).endsWith('/Put')) puts.push('put');
      stream.on('error', () => undefined);
      stream.respond(
        {
          ':status': 200,
          'grpc-status': '14',
          'grpc-message': 'connect ECONNREFUSED 10.0.0.9:5672',
        },
        { endStream: true, sendDate: false } as http2.ServerStreamResponseOptions,
      );
    });
    await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>(r => server.close(() => r())));

  for (const text of ['connect ECONNREFUSED 10.0.0.9:5672', 'No connection established']) {
    it(`a plain Put answered "${text}" is sent once`, async () => {
      puts.length = 0;
      const client = new Etcd3({ hosts: `127.0.0.1:${port}`, callTimeoutMs: 3000 });
      try {
        const err = await client
          .put('k')
          .value('v')
          .catch(e => e);
        expect(err).toBeInstanceOf(GRPCUnavailableError);
        expect(puts.length).toBe(1);
      } finally {
        await client.close();
      }
    });
  }
});
