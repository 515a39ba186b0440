/**
 * Property: createGrpcClient with hostile arguments either returns a client or throws
 * InvalidOptionError, and when it throws, no channel was created.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { InvalidOptionError } from '../../lib/errors';
import { createGrpcClient } from '../../lib/grpc/create-client';
import { hostile, printerKillers } from '../property/arbitraries';
import { countingResolver } from '../fakes/counting-resolver';
import { EchoClient } from './echo-service';

/** Counts channels made for `hostile:` targets. */
const { made: channelsMade } = countingResolver('hostile');

const seen = { ok: 0, invalid: 0 };
afterAll(() => {
  // Both outcomes must be exercised, or the property proves little.
  expect(seen.ok).toBeGreaterThan(10);
  expect(seen.invalid).toBeGreaterThan(10);
});

/** Runs createGrpcClient; only InvalidOptionError may escape, and only before a channel exists. */
function check(ServiceClient: unknown, target: unknown, options: unknown): void {
  const before = channelsMade();
  let client: { close(): Promise<void> } | undefined;
  try {
    client = createGrpcClient(ServiceClient as any, target as any, options as any) as any;
  } catch (err) {
    if (!(err instanceof InvalidOptionError)) {
      throw err;
    }
    expect(channelsMade()).toBe(before);
    seen.invalid++;
    return;
  }
  seen.ok++;
  void client!.close();
}

const getterThrows = fc.constant({
  get callTimeoutMs(): number {
    throw new Error('getter exploded');
  },
});
const knownKeys = [
  'callTimeoutMs',
  'idempotentMethods',
  'connectTimeoutMs',
  'closeTimeoutMs',
  'retry',
  'breaker',
  'rebuild',
  'keepalive',
  'channelOptions',
  'interceptors',
  'credentials',
  'logger',
];
const optionObjects = fc.dictionary(
  fc.oneof(fc.constantFrom(...knownKeys), fc.string({ maxLength: 12 })),
  fc.oneof(hostile(), printerKillers(), fc.integer({ min: 1, max: 10_000 })),
  { maxKeys: 4 },
);
const validOptions = fc.record(
  {
    callTimeoutMs: fc.integer({ min: 1, max: 60_000 }),
    retry: fc.record({ maxAttempts: fc.integer({ min: 0, max: 10 }) }, { requiredKeys: [] }),
    channelOptions: fc.record(
      { 'grpc.primary_user_agent': fc.string({ maxLength: 10 }) },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

describe('createGrpcClient with hostile input', () => {
  test('any options: a client, or InvalidOptionError before any channel', () => {
    fc.assert(
      fc.property(
        fc.oneof(hostile(), printerKillers(), getterThrows, optionObjects, validOptions),
        options => check(EchoClient, 'hostile:///svc', options),
      ),
      { numRuns: 300 },
    );
  });

  test('any ServiceClient or target: a client, or InvalidOptionError before any channel', () => {
    fc.assert(
      fc.property(
        fc.oneof(hostile(), printerKillers(), fc.constant(EchoClient)),
        fc.oneof(hostile(), printerKillers(), fc.constant('hostile:///svc')),
        (ServiceClient, target) => check(ServiceClient, target, {}),
      ),
      { numRuns: 200 },
    );
  });
});

describe('channelOptions whose keys cannot be listed', () => {
  test('a Proxy whose ownKeys trap throws is InvalidOptionError naming channelOptions', () => {
    const channelOptions = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('trap');
        },
      },
    );
    let error: unknown;
    try {
      createGrpcClient(EchoClient, '127.0.0.1:1', { channelOptions } as any);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe('channelOptions');
  });
});
