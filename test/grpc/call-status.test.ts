import { status as S } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { isRetryable, isTargetFailure, matchesMethod, neverSent } from '../../lib/grpc/call-status';

describe('call status classification', () => {
  it.each([
    'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1',
    'round_robin: No connection established. Last error: null',
    'No addresses resolved. Resolution note: no live instance of service "svc" in etcd',
    'Name resolution failed for target dns:nope',
    'Stream refused by server',
    'Channel closed before call started',
    'circuit breaker for "etcd:///svc" is open after repeated failures; call not sent',
  ])('UNAVAILABLE "%s" never reached a server', details => {
    expect(neverSent({ code: S.UNAVAILABLE, details })).toBe(true);
    expect(isRetryable({ code: S.UNAVAILABLE, details }, false)).toBe(true);
  });

  it.each(['Connection dropped', 'read ECONNRESET', 'Received RST_STREAM with code 2', ''])(
    'UNAVAILABLE "%s" may have reached a server: retried only if idempotent',
    details => {
      expect(neverSent({ code: S.UNAVAILABLE, details })).toBe(false);
      expect(isRetryable({ code: S.UNAVAILABLE, details }, false)).toBe(false);
      expect(isRetryable({ code: S.UNAVAILABLE, details }, true)).toBe(true);
    },
  );

  it('retries a server-side cancel only for idempotent methods, never our own cancel', () => {
    expect(isRetryable({ code: S.CANCELLED, details: 'Call cancelled' }, true)).toBe(true);
    expect(isRetryable({ code: S.CANCELLED, details: 'Call cancelled' }, false)).toBe(false);
    expect(isRetryable({ code: S.CANCELLED, details: 'Cancelled on client' }, true)).toBe(false);
  });

  it('never retries other codes, even for idempotent methods', () => {
    for (const code of [S.DEADLINE_EXCEEDED, S.INTERNAL, S.NOT_FOUND, S.UNKNOWN]) {
      expect(isRetryable({ code, details: 'No connection established' }, true)).toBe(false);
    }
  });

  it('counts UNAVAILABLE and DEADLINE_EXCEEDED against the target, not application errors', () => {
    expect(isTargetFailure({ code: S.UNAVAILABLE, details: 'No connection established' })).toBe(
      true,
    );
    expect(isTargetFailure({ code: S.DEADLINE_EXCEEDED, details: 'Deadline exceeded' })).toBe(true);
    expect(isTargetFailure({ code: S.NOT_FOUND, details: '' })).toBe(false);
    expect(isTargetFailure({ code: S.INVALID_ARGUMENT, details: '' })).toBe(false);
    // Our own rebuild closed the channel under the call: not evidence against the target.
    expect(
      isTargetFailure({ code: S.UNAVAILABLE, details: 'Channel closed before call started' }),
    ).toBe(false);
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
