import { describe, expect, it } from 'vitest';
import { streamStarted } from '../../lib/policy/stream-started';

describe('streamStarted(peer)', () => {
  it('a transport address means a stream was started', () => {
    for (const peer of ['127.0.0.1:2379', '[::1]:2379', '[fe80::1%eth0]:80', '/tmp/etcd.sock']) {
      expect(streamStarted(peer), peer).toBe(true);
    }
  });
  it("the channel's target URI, '' or a non-string means not (or unknown)", () => {
    for (const peer of [
      'dns:127.0.0.1:1',
      'ipv4:127.0.0.1:1',
      'etcd:///svc',
      'dns:localhost:1',
      '',
      'unknown',
      undefined,
      5,
    ]) {
      expect(streamStarted(peer), String(peer)).toBe(false);
    }
  });
});
