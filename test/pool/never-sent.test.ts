/**
 * "Never sent" is decided from facts, not from a status' text: a status that came
 * from a server (it carries response metadata) means the request was sent, whatever
 * its details say. Our `Etcd3` against real grpc-js servers serving etcd's proto.
 */
import { Metadata, status as Status } from '@grpc/grpc-js';
import { BrokenCircuitError } from 'cockatiel';
import { GRPCUnavailableError } from 'etcd3';
import { describe, expect, test } from 'vitest';
import { neverSent, rawNeverSent } from '../../lib/pool/classify';
import { NotConnectedError } from '../../lib/pool/endpoint';
import { unavailable } from '../fakes/fake-etcd';
import { ready, withClients } from '../fakes/client-harness';
import { timed } from '../fakes/pool-harness';

const { fakes, client } = withClients();

/** Details a server application or gateway may well answer with after doing the work. */
const MISLEADING = ['connect ECONNREFUSED 10.0.0.9:5672', 'circuit breaker for x is open'];

describe('a server answering UNAVAILABLE with "never sent"-looking text', () => {
  test.each(MISLEADING)('a plain Put answered "%s" is sent exactly once', async details => {
    const [a, b] = await fakes(2);
    a.on('KV.put', () => unavailable(details));
    b.on('KV.put', () => unavailable(details));
    const c = client({ hosts: [a.url, b.url] });
    await ready(c);
    const { error } = await timed(() => c.put('k').value('v').exec());
    expect(error).toBeInstanceOf(GRPCUnavailableError);
    expect(a.count('KV.put') + b.count('KV.put')).toBe(1);
  });

  test.each(MISLEADING)('a Range answered "%s" is retried (reads are safe)', async details => {
    const [a, b] = await fakes(2);
    a.on('KV.range', () => unavailable(details));
    const c = client({ hosts: [a.url, b.url] });
    await ready(c);
    expect(await c.get('k').string()).toBeNull();
    expect(a.count('KV.range')).toBeGreaterThanOrEqual(1);
    expect(b.count('KV.range')).toBeGreaterThanOrEqual(1);
  });
});

describe('what still proves "never sent"', () => {
  const local = (details: string, metadata = new Metadata()) =>
    Object.assign(new Error(`14 UNAVAILABLE: ${details}`), {
      code: Status.UNAVAILABLE,
      details,
      metadata,
    });

  test('grpc-js\'s own "No connection established" (no response metadata)', () => {
    expect(rawNeverSent(local('No connection established. Last error: x'))).toBe(true);
  });

  test('the same text with response metadata came from a server: sent', () => {
    const md = new Metadata();
    md.set('content-type', 'application/grpc');
    expect(rawNeverSent(local('No connection established', md))).toBe(false);
    expect(rawNeverSent(local('connect ECONNREFUSED 10.0.0.9:5672', md))).toBe(false);
  });

  test('an open breaker and our NotConnectedError', () => {
    expect(neverSent(new BrokenCircuitError())).toBe(true);
    expect(neverSent(new NotConnectedError('http://x:1', 'refused'))).toBe(true);
  });
});
