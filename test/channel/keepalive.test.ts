import { describe, expect, test } from 'vitest';
import { keepaliveChannelOptions } from '../../lib/channel/keepalive';
import { resolveOptions } from '../../lib/options';

describe('keepaliveChannelOptions', () => {
  test('maps our keepalive settings to grpc-js options', () => {
    const o = keepaliveChannelOptions({
      timeMs: 10_000,
      timeoutMs: 5000,
      permitWithoutCalls: false,
    });
    expect(o['grpc.keepalive_time_ms']).toBe(10_000);
    expect(o['grpc.keepalive_timeout_ms']).toBe(5000);
    expect(o['grpc.keepalive_permit_without_calls']).toBe(0);
    expect(
      keepaliveChannelOptions({ timeMs: 10_000, timeoutMs: 5000, permitWithoutCalls: true })[
        'grpc.keepalive_permit_without_calls'
      ],
    ).toBe(1);
  });

  test('keeps reconnect backoff short (grpc-js would back off up to 120 s)', () => {
    const o = keepaliveChannelOptions({
      timeMs: 10_000,
      timeoutMs: 5000,
      permitWithoutCalls: false,
    });
    expect(o['grpc.max_reconnect_backoff_ms']).toBeLessThanOrEqual(1000);
    expect(o['grpc.initial_reconnect_backoff_ms']).toBeLessThanOrEqual(
      o['grpc.max_reconnect_backoff_ms'] as number,
    );
  });

  test("the user's grpcOptions win over every default, and are all kept", () => {
    const user = {
      'grpc.keepalive_time_ms': 60_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.max_reconnect_backoff_ms': 5000,
      'grpc.max_receive_message_length': 1 << 22,
    };
    const o = keepaliveChannelOptions(
      { timeMs: 10_000, timeoutMs: 5000, permitWithoutCalls: false },
      user,
    );
    expect(o).toMatchObject(user);
    expect(o['grpc.keepalive_timeout_ms']).toBe(5000);
  });

  test('the defaults respect etcd server enforcement (no pings without calls, >= 5 s apart)', () => {
    const o = keepaliveChannelOptions(resolveOptions().keepalive);
    expect(o['grpc.keepalive_time_ms']).toBeGreaterThanOrEqual(5000);
    expect(o['grpc.keepalive_permit_without_calls']).toBe(0);
  });
});
