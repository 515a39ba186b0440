import { Metadata, status as S } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import {
  attemptNeverSent,
  isRetryable,
  isTargetFailure,
  makeStatus,
  matchesMethod,
  notSentStatus,
} from '../../lib/grpc/call-status';

/** A status as it arrives from a server: trailers fill its metadata. */
function fromServer(code: S, details: string) {
  const metadata = new Metadata();
  metadata.set('content-type', 'application/grpc');
  return { code, details, metadata };
}

describe('call status classification', () => {
  it.each([
    'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1',
    'No addresses resolved. Resolution note: no live instance of service "svc" in etcd',
    'Name resolution failed for target dns:nope',
    'Stream refused by server',
    'Channel closed before call started',
  ])('a local grpc-js UNAVAILABLE "%s" never reached a server', details => {
    expect(attemptNeverSent(makeStatus(S.UNAVAILABLE, details))).toBe(true);
  });

  it.each([
    'connect ECONNREFUSED 10.0.0.9:5672',
    'circuit breaker for "x" is open after repeated failures; call not sent',
    'No connection established',
    'grpc client for "x" is closed',
  ])('the same text from a server ("%s") means sent', details => {
    expect(attemptNeverSent(fromServer(S.UNAVAILABLE, details))).toBe(false);
    // Response headers seen by the attempt also mean sent.
    expect(attemptNeverSent(makeStatus(S.UNAVAILABLE, details), true)).toBe(false);
  });

  it('our own refusals are never sent by their mark, not by their text', () => {
    expect(attemptNeverSent(notSentStatus(S.UNAVAILABLE, 'anything at all'))).toBe(true);
    expect(attemptNeverSent(makeStatus(S.UNAVAILABLE, 'circuit breaker for "x" is open'))).toBe(
      false,
    );
  });

  it.each(['Connection dropped', 'read ECONNRESET', 'Received RST_STREAM with code 2', ''])(
    'UNAVAILABLE "%s" may have reached a server: retried only if idempotent',
    details => {
      const status = makeStatus(S.UNAVAILABLE, details);
      expect(attemptNeverSent(status)).toBe(false);
      expect(isRetryable(status, false, false)).toBe(false);
      expect(isRetryable(status, true, false)).toBe(true);
    },
  );

  it('retries UNAVAILABLE of a non-idempotent method only if never sent', () => {
    expect(isRetryable(makeStatus(S.UNAVAILABLE, 'x'), false, true)).toBe(true);
    expect(isRetryable(makeStatus(S.UNAVAILABLE, 'x'), false, false)).toBe(false);
  });

  it('retries a server-side cancel only for idempotent methods, never our own cancel', () => {
    expect(isRetryable({ code: S.CANCELLED, details: 'Call cancelled' }, true, false)).toBe(true);
    expect(isRetryable({ code: S.CANCELLED, details: 'Call cancelled' }, false, false)).toBe(false);
    expect(isRetryable({ code: S.CANCELLED, details: 'Cancelled on client' }, true, false)).toBe(
      false,
    );
  });

  it('never retries other codes, even for idempotent methods', () => {
    for (const code of [S.DEADLINE_EXCEEDED, S.INTERNAL, S.NOT_FOUND, S.UNKNOWN]) {
      expect(isRetryable({ code, details: 'No connection established' }, true, true)).toBe(false);
    }
  });

  it('counts UNAVAILABLE and DEADLINE_EXCEEDED against the target, not application errors', () => {
    expect(isTargetFailure(makeStatus(S.UNAVAILABLE, 'No connection established'))).toBe(true);
    expect(isTargetFailure(makeStatus(S.DEADLINE_EXCEEDED, 'Deadline exceeded'))).toBe(true);
    expect(isTargetFailure(makeStatus(S.NOT_FOUND, ''))).toBe(false);
    expect(isTargetFailure(makeStatus(S.INVALID_ARGUMENT, ''))).toBe(false);
    // Our own rebuild closed the channel under the call: not evidence against the target.
    const closed = 'Channel closed before call started';
    expect(isTargetFailure(makeStatus(S.UNAVAILABLE, closed))).toBe(false);
    // ... but the same text from a server is.
    expect(isTargetFailure(fromServer(S.UNAVAILABLE, closed))).toBe(true);
  });

  it('matches idempotent methods by path, name or lower-camel alias', () => {
    const names = new Set(['GetUser', '/pkg.Users/ListUsers', 'search']);
    expect(matchesMethod(names, '/pkg.Users/GetUser')).toBe(true);
    expect(matchesMethod(names, '/pkg.Users/ListUsers')).toBe(true);
    expect(matchesMethod(names, '/pkg.Users/Search')).toBe(true);
    expect(matchesMethod(names, '/pkg.Users/DeleteUser')).toBe(false);
    expect(matchesMethod(new Set(), '/pkg.Users/GetUser')).toBe(false);
  });
});
