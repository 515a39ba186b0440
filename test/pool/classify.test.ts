import { Metadata, status as Status } from '@grpc/grpc-js';
import { BrokenCircuitError, IsolatedCircuitError } from 'cockatiel';
import {
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  castGrpcError,
} from 'etcd3';
import { describe, expect, test } from 'vitest';
import { NotConnectedError } from '../../lib/pool/endpoint';
import { describeError } from '../../lib/policy/describe-error';
import {
  isEndpointFailure,
  isTransient,
  mark,
  marksOf,
  neverSent,
  rawNeverSent,
  suggestsBrokenConnection,
  type RawGrpcError,
} from '../../lib/pool/classify';

/** A raw error shaped as grpc-js reports it (message `<code> <NAME>: <details>`). */
function raw(code: Status, details: string): RawGrpcError {
  return Object.assign(new Error(`${code} ${Status[code]}: ${details}`), { code, details });
}

describe('rawNeverSent: the request provably never left this process', () => {
  test.each([
    'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:2379',
    'No connection established',
    'connect ECONNREFUSED 10.0.0.1:2379',
    'Name resolution failed for target dns:etcd-0:2379',
    'No addresses resolved. Resolution note: none',
  ])('UNAVAILABLE "%s"', details => {
    expect(rawNeverSent(raw(Status.UNAVAILABLE, details))).toBe(true);
  });

  test.each([
    [Status.UNAVAILABLE, 'Connection dropped'],
    [Status.UNAVAILABLE, 'read ECONNRESET'],
    [Status.UNAVAILABLE, 'etcdserver: leader changed'],
    [Status.UNAVAILABLE, 'etcdserver: request timed out'],
    [Status.DEADLINE_EXCEEDED, 'Deadline exceeded'],
    [Status.INTERNAL, 'Received RST_STREAM with code 2'],
    // The never-sent wording under any code other than UNAVAILABLE proves nothing.
    [Status.UNKNOWN, 'No connection established'],
  ])('not for %s "%s" (it may have been sent)', (code, details) => {
    expect(rawNeverSent(raw(code, details))).toBe(false);
  });

  test('the text alone proves nothing when the status came from a server (it has metadata)', () => {
    const err = raw(Status.UNAVAILABLE, 'connect ECONNREFUSED 10.0.0.9:5672');
    err.metadata = new Metadata();
    err.metadata.set('content-type', 'application/grpc');
    expect(rawNeverSent(err)).toBe(false);
  });
});

describe('neverSent', () => {
  test('an open breaker, an isolated one and a failed connect never sent anything', () => {
    expect(neverSent(new BrokenCircuitError())).toBe(true);
    expect(neverSent(new IsolatedCircuitError())).toBe(true);
    expect(neverSent(new NotConnectedError('http://a:1', 'channel CONNECTING after 10 ms'))).toBe(
      true,
    );
  });

  test('follows the marks of an attempt', () => {
    expect(neverSent(mark(new GRPCUnavailableError('x'), { sent: false }))).toBe(true);
    expect(neverSent(mark(new GRPCUnavailableError('x'), { sent: true }))).toBe(false);
  });

  test('an unmarked error is assumed sent', () => {
    expect(neverSent(new GRPCUnavailableError('x'))).toBe(false);
    expect(neverSent(new Error('x'))).toBe(false);
    expect(neverSent(undefined)).toBe(false);
    expect(neverSent('a string')).toBe(false);
  });
});

describe('mark / marksOf', () => {
  test('attaches marks without wrapping or changing the error', () => {
    const err = new GRPCUnavailableError('x');
    const keys = Object.keys(err);
    expect(mark(err, { sent: true, grpcCode: 14 })).toBe(err);
    expect(marksOf(err)).toEqual({ sent: true, grpcCode: 14 });
    expect(Object.keys(err)).toEqual(keys);
    expect(JSON.stringify(err)).not.toContain('grpcCode');
  });

  test('ignores non-objects', () => {
    expect(mark('x', { sent: true })).toBe('x');
    expect(marksOf('x')).toBeUndefined();
    expect(marksOf(null)).toBeUndefined();
  });
});

describe('isEndpointFailure: counts against the endpoint (its breaker)', () => {
  test('not a failure of a connection the endpoint has since replaced (stale)', () => {
    // A sent write left running on the old connection by a rebuild, dropped later.
    const err = castGrpcError(raw(Status.UNAVAILABLE, 'Connection dropped'));
    mark(err, { sent: true, grpcCode: Status.UNAVAILABLE, stale: true });
    expect(isEndpointFailure(err)).toBe(false);
  });

  test('recoverable gRPC errors do', () => {
    expect(isEndpointFailure(castGrpcError(raw(Status.UNAVAILABLE, 'Connection dropped')))).toBe(
      true,
    );
    expect(
      isEndpointFailure(castGrpcError(raw(Status.DEADLINE_EXCEEDED, 'Deadline exceeded'))),
    ).toBe(true);
    expect(
      isEndpointFailure(castGrpcError(raw(Status.RESOURCE_EXHAUSTED, 'too many requests'))),
    ).toBe(true);
  });

  test('a failed connect does; a hang or a deadline does not by itself (the probe decides)', () => {
    expect(isEndpointFailure(new NotConnectedError('http://a:1', 'down'))).toBe(true);
    expect(isEndpointFailure(mark(new Error('slow'), { sent: true, hang: true }))).toBe(false);
    expect(
      isEndpointFailure(
        mark(castGrpcError(raw(Status.DEADLINE_EXCEEDED, 'Deadline exceeded')), {
          sent: true,
          grpcCode: Status.DEADLINE_EXCEEDED,
        }),
      ),
    ).toBe(false);
  });

  test('an etcd-level UNAVAILABLE (no leader, election) does not: the member answered', () => {
    expect(
      isEndpointFailure(
        mark(castGrpcError(raw(Status.UNAVAILABLE, 'etcdserver: no leader')), {
          sent: true,
          grpcCode: Status.UNAVAILABLE,
        }),
      ),
    ).toBe(false);
    expect(
      isTransient(
        mark(castGrpcError(raw(Status.UNAVAILABLE, 'etcdserver: no leader')), {
          sent: true,
          grpcCode: Status.UNAVAILABLE,
        }),
      ),
    ).toBe(true);
  });

  test('errors about the request, not the endpoint, do not', () => {
    expect(isEndpointFailure(new EtcdPermissionDeniedError('etcdserver: permission denied'))).toBe(
      false,
    );
    expect(isEndpointFailure(new EtcdLeaseInvalidError('1'))).toBe(false);
    expect(isEndpointFailure(castGrpcError(raw(Status.INVALID_ARGUMENT, 'bad')))).toBe(false);
    expect(isEndpointFailure(castGrpcError(raw(Status.NOT_FOUND, 'nope')))).toBe(false);
  });

  test('a call we cancelled ourselves does not', () => {
    const cancelled = mark(castGrpcError(raw(Status.CANCELLED, 'Cancelled on client')), {
      sent: true,
      grpcCode: Status.CANCELLED,
    });
    expect(isEndpointFailure(cancelled)).toBe(false);
  });

  test('non-errors do not', () => {
    expect(isEndpointFailure(undefined)).toBe(false);
    expect(isEndpointFailure('UNAVAILABLE')).toBe(false);
  });
});

describe('isTransient: worth another try for a call that may be repeated', () => {
  test('endpoint failures and never-sent calls are; request errors are not', () => {
    expect(isTransient(new GRPCDeadlineExceededError('x'))).toBe(true);
    expect(isTransient(new BrokenCircuitError())).toBe(true);
    expect(isTransient(new EtcdPermissionDeniedError('etcdserver: permission denied'))).toBe(false);
  });
});

describe('suggestsBrokenConnection', () => {
  test('an UNAVAILABLE from the transport does', () => {
    expect(suggestsBrokenConnection(raw(Status.UNAVAILABLE, 'Connection dropped'))).toBe(true);
    expect(suggestsBrokenConnection(raw(Status.UNAVAILABLE, 'No connection established'))).toBe(
      true,
    );
  });

  test('an UNAVAILABLE that etcd itself answered does not (the connection works)', () => {
    expect(suggestsBrokenConnection(raw(Status.UNAVAILABLE, 'etcdserver: leader changed'))).toBe(
      false,
    );
    expect(suggestsBrokenConnection(raw(Status.UNAVAILABLE, 'etcdserver: request timed out'))).toBe(
      false,
    );
  });

  test('other codes do not', () => {
    expect(suggestsBrokenConnection(raw(Status.DEADLINE_EXCEEDED, 'Deadline exceeded'))).toBe(
      false,
    );
    expect(suggestsBrokenConnection(raw(Status.INTERNAL, 'x'))).toBe(false);
  });
});

describe('describeError', () => {
  test('names the error and redacts tokens and passwords', () => {
    const text = describeError(new Error('bad call token=abc.DEF-123 password: hunter2'));
    expect(text).toMatch(/^Error: bad call/);
    expect(text).not.toContain('abc.DEF-123');
    expect(text).not.toContain('hunter2');
  });

  test('is bounded and accepts anything', () => {
    expect(describeError(new Error('x'.repeat(10_000))).length).toBeLessThanOrEqual(500);
    expect(describeError(42)).toBe('42');
    expect(describeError(undefined)).toBe('undefined');
  });
});
