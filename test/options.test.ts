import { ExponentialBackoff, handleAll, retry } from 'cockatiel';
import type { IOptions } from 'etcd3';
import { describe, expect, test } from 'vitest';
import { InvalidOptionError } from '../lib/errors';
import { noopLogger } from '../lib/logger';
import { ETCD3_OPTION_KEYS, resolveOptions, type ResilientEtcdOptions } from '../lib/options';

/** Runs resolveOptions and returns the InvalidOptionError it must throw. */
function invalid(options: unknown): InvalidOptionError {
  try {
    resolveOptions(options as ResilientEtcdOptions);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidOptionError);
    return err as InvalidOptionError;
  }
  throw new Error(`accepted ${JSON.stringify(options)}`);
}

describe('resolveOptions defaults', () => {
  test('fills every default', () => {
    const r = resolveOptions();
    expect(r.hosts).toEqual(['127.0.0.1:2379']);
    expect(r.callTimeoutMs).toBe(5000);
    expect(r.attemptTimeoutMs).toBe(1000);
    expect(r.connectTimeoutMs).toBe(2000);
    expect(r.keepalive).toEqual({ timeMs: 6000, timeoutMs: 5000, permitWithoutCalls: false });
    expect(r.retry).toEqual({ maxAttempts: 4, initialDelayMs: 50, maxDelayMs: 1000 });
    expect(r.breaker).toEqual({ consecutiveFailures: 3, halfOpenAfterMs: 2000 });
    expect(r.rebuild).toEqual({
      transientFailureMs: 1000,
      initialBackoffMs: 100,
      maxBackoffMs: 3000,
    });
    expect(r.autoSyncIntervalMs).toBe(0);
    expect(r.closeTimeoutMs).toBe(2000);
    expect(r.logger).toBe(noopLogger);
  });

  test('a group given as null or undefined means all its defaults', () => {
    const r = resolveOptions({ retry: null as never, keepalive: undefined });
    expect(r.retry).toEqual(resolveOptions().retry);
    expect(r.keepalive).toEqual(resolveOptions().keepalive);
  });

  test('keeps given values, and fills the rest of a partly given group', () => {
    const r = resolveOptions({
      keepalive: { timeMs: 30_000 },
      retry: { maxAttempts: 0 },
      breaker: { halfOpenAfterMs: 10 },
    });
    expect(r.keepalive).toEqual({ timeMs: 30_000, timeoutMs: 5000, permitWithoutCalls: false });
    // The keepalive timeout follows the call deadline: a round trip longer than it serves no call.
    expect(resolveOptions({ callTimeoutMs: 8000 }).keepalive.timeoutMs).toBe(8000);
    expect(r.retry).toEqual({ maxAttempts: 0, initialDelayMs: 50, maxDelayMs: 1000 });
    expect(r.breaker).toEqual({ consecutiveFailures: 3, halfOpenAfterMs: 10 });
  });

  test('the attempt timeout defaults to at most the call timeout', () => {
    expect(resolveOptions({ callTimeoutMs: 300 }).attemptTimeoutMs).toBe(300);
    expect(resolveOptions({ callTimeoutMs: 300, attemptTimeoutMs: 100 }).attemptTimeoutMs).toBe(
      100,
    );
  });

  test("etcd3's dialTimeout is the connect timeout unless connectTimeoutMs is given", () => {
    expect(resolveOptions({ dialTimeout: 1234 }).connectTimeoutMs).toBe(1234);
    expect(resolveOptions({ dialTimeout: 1234, connectTimeoutMs: 99 }).connectTimeoutMs).toBe(99);
  });

  test('a single host string becomes a list; a trailing slash is dropped', () => {
    expect(resolveOptions({ hosts: 'http://10.0.0.1:2379/' }).hosts).toEqual([
      'http://10.0.0.1:2379',
    ]);
    expect(resolveOptions({ hosts: ['a:1', 'https://[::1]:2379'].slice(0, 1) }).hosts).toEqual([
      'a:1',
    ]);
  });

  test('hands etcd3 its own options (hosts normalised, grpcOptions untouched) and none of ours', () => {
    const grpcOptions = {
      'grpc.keepalive_time_ms': 7000,
      'grpc.max_receive_message_length': 1 << 20,
    };
    const r = resolveOptions({
      hosts: 'h:1',
      grpcOptions,
      dialTimeout: 100,
      callTimeoutMs: 50,
      keepalive: { timeMs: 6000 },
      retry: {},
      breaker: {},
      rebuild: {},
      logger: noopLogger,
      autoSyncIntervalMs: 10,
      closeTimeoutMs: 10,
      attemptTimeoutMs: 10,
      connectTimeoutMs: 10,
    });
    expect(r.etcd3).toEqual({ hosts: ['h:1'], grpcOptions, dialTimeout: 100 });
  });
});

describe('resolveOptions rejects each invalid field, naming it', () => {
  const cases: Array<[string, ResilientEtcdOptions | unknown]> = [
    ['options', 'not an object'],
    ['hosts', { hosts: [] }],
    ['hosts', { hosts: 42 }],
    ['hosts', { hosts: ['not a host!'] }],
    ['hosts', { hosts: ['http://a:1', 'https://b:1'] }],
    ['hosts', { hosts: ['a:1', 'a:1'] }],
    ['callTimeoutMs', { callTimeoutMs: 0 }],
    ['callTimeoutMs', { callTimeoutMs: '100' }],
    ['callTimeoutMs', { callTimeoutMs: Infinity }],
    ['callTimeoutMs', { callTimeoutMs: 2 ** 31 }],
    ['attemptTimeoutMs', { attemptTimeoutMs: -1 }],
    ['connectTimeoutMs', { connectTimeoutMs: NaN }],
    ['connectTimeoutMs', { dialTimeout: 0 }],
    ['keepalive', { keepalive: 5 }],
    ['keepalive.timeMs', { keepalive: { timeMs: 4999 } }],
    ['keepalive.timeoutMs', { keepalive: { timeoutMs: 0 } }],
    ['keepalive.permitWithoutCalls', { keepalive: { permitWithoutCalls: 1 } }],
    ['retry', { retry: true }],
    ['retry.maxAttempts', { retry: { maxAttempts: 1.5 } }],
    ['retry.maxAttempts', { retry: { maxAttempts: 101 } }],
    ['retry.initialDelayMs', { retry: { initialDelayMs: -5 } }],
    ['retry.maxDelayMs', { retry: { initialDelayMs: 500, maxDelayMs: 100 } }],
    ['breaker', { breaker: 'x' }],
    ['breaker.consecutiveFailures', { breaker: { consecutiveFailures: 0 } }],
    ['breaker.halfOpenAfterMs', { breaker: { halfOpenAfterMs: 0 } }],
    ['rebuild', { rebuild: 1 }],
    ['rebuild.transientFailureMs', { rebuild: { transientFailureMs: -1 } }],
    ['rebuild.initialBackoffMs', { rebuild: { initialBackoffMs: 'soon' } }],
    ['rebuild.maxBackoffMs', { rebuild: { initialBackoffMs: 1000, maxBackoffMs: 10 } }],
    ['autoSyncIntervalMs', { autoSyncIntervalMs: -1 }],
    ['closeTimeoutMs', { closeTimeoutMs: 0 }],
    ['logger', { logger: console.log }],
    ['logger', { logger: { info() {} } }],
    ['auth', { auth: { username: '', password: 'x' } }],
    ['auth', { auth: { username: 'root' } }],
    ['credentials.rootCertificate', { credentials: { rootCertificate: 'PEM as a string' } }],
  ];
  test.each(cases)('%s: %j', (field, options) => {
    const err = invalid(options);
    expect(err.option).toBe(field);
    expect(err.code).toBe('ERESILIENT_INVALID_OPTION');
    expect(err.message).toContain(`"${field}"`);
  });
});

describe('secrets never appear in error messages', () => {
  const password = 'hunter2-very-secret';

  test('a bad auth option does not echo the password', () => {
    for (const auth of [
      { username: '', password },
      { username: 42, password },
      { username: 'root', password: { password } },
    ]) {
      const err = invalid({ auth });
      expect(err.message).not.toContain(password);
      expect(String(err.stack)).not.toContain(password);
    }
  });

  test.each([
    `http://root:${password}@127.0.0.1:2379`,
    `root:${password}@127.0.0.1:2379`,
    `https://root:${password}@etcd/`,
    `http://root:a/b@c:${password}@10.0.0.1:2379`,
  ])('a host URL with credentials in it is not echoed with them: %s', host => {
    const err = invalid({ hosts: [host] });
    expect(err.option).toBe('hosts');
    expect(err.message).not.toContain(password);
    expect(err.message).toContain('***@');
  });

  test('another bad field next to valid auth does not leak the password', () => {
    const err = invalid({ auth: { username: 'root', password }, callTimeoutMs: -1 });
    expect(err.option).toBe('callTimeoutMs');
    expect(err.message).not.toContain(password);
  });
});

describe('unknown option keys (typos) are rejected with a suggestion', () => {
  test.each([
    ['callTimeoutMS', { callTimeoutMS: 100 }, 'callTimeoutMs'],
    ['retry.maxAttemps', { retry: { maxAttemps: 3 } }, 'maxAttempts'],
    ['keepalive.time', { keepalive: { time: 6000 } }, 'timeMs'],
    ['breaker.halfOpenAfter', { breaker: { halfOpenAfter: 10 } }, 'halfOpenAfterMs'],
    ['rebuild.maxBackofMs', { rebuild: { maxBackofMs: 10 } }, 'maxBackoffMs'],
    ['dialTimout', { dialTimout: 10 }, 'dialTimeout'],
    ['host', { host: '127.0.0.1:2379' }, 'hosts'],
    ['auth.usrname', { auth: { usrname: 'root', username: 'root', password: 'x' } }, 'username'],
    ['faultHandling.watchBackof', { faultHandling: { watchBackof: {} } }, 'watchBackoff'],
  ])('%s', (field, options, suggestion) => {
    const err = invalid(options);
    expect(err.option).toBe(field);
    expect(err.message).toContain(`did you mean "${suggestion}"`);
  });

  test('a key far from every option is rejected without a suggestion', () => {
    const err = invalid({ somethingElseEntirely: true });
    expect(err.option).toBe('somethingElseEntirely');
    expect(err.message).not.toContain('did you mean');
  });

  test("every key of etcd3's IOptions is still accepted", () => {
    // The keys of etcd3 1.1.2's IOptions (node_modules/etcd3/lib/options.d.ts).
    const etcd3Options: Required<IOptions> = {
      hosts: ['127.0.0.1:2379'],
      auth: { username: 'root', password: 'pw', callOptions: { deadline: 1000 } },
      credentials: undefined as never,
      grpcOptions: { 'grpc.max_receive_message_length': 1 << 20 },
      dialTimeout: 1000,
      defaultCallOptions: () => ({}),
      faultHandling: {
        host: () => retry(handleAll, { maxAttempts: 1 }),
        global: retry(handleAll, { maxAttempts: 1 }),
        watchBackoff: new ExponentialBackoff().next(),
      },
    };
    delete (etcd3Options as Partial<IOptions>).credentials; // needs real PEM; tested elsewhere
    expect(() => resolveOptions(etcd3Options)).not.toThrow();
    expect(Object.keys(ETCD3_OPTION_KEYS).sort()).toEqual([
      'auth',
      'credentials',
      'defaultCallOptions',
      'dialTimeout',
      'faultHandling',
      'grpcOptions',
      'hosts',
    ]);
  });

  test('grpcOptions keys are grpc-js channel options and are not checked against a list', () => {
    expect(() => resolveOptions({ grpcOptions: { 'grpc.some_new_option': 1 } })).not.toThrow();
  });
});

describe('hosts: ports and duplicates', () => {
  test.each(['127.0.0.1:99999', 'http://127.0.0.1:0', 'https://[::1]:65536', 'h:00000'])(
    'port out of 1-65535: %s',
    host => {
      const err = invalid({ hosts: [host] });
      expect(err.option).toBe('hosts');
      expect(err.message).toMatch(/port/);
    },
  );

  test('ports 1 and 65535 are accepted', () => {
    expect(resolveOptions({ hosts: ['a:1', 'a:65535'] }).hosts).toEqual(['a:1', 'a:65535']);
  });

  test.each([
    [['127.0.0.1:2379', 'http://127.0.0.1:2379']],
    [['http://127.0.0.1:2379/', 'http://127.0.0.1:2379']],
    [['http://ETCD-1:2379', 'http://etcd-1:2379']],
    [['HTTP://etcd-1:2379', 'etcd-1:2379']],
    [['https://[::1]:2379', 'HTTPS://[0:0::1]:2379/']],
    [['127.0.0.1:2379', '127.1:2379']],
  ])('the same endpoint spelled two ways is a duplicate: %j', hosts => {
    const err = invalid({ hosts });
    expect(err.option).toBe('hosts');
    expect(err.message).toMatch(/duplicate/);
  });
});
