/**
 * `etcd3-resilient doctor` as a child process against real etcd: healthy, a dead
 * endpoint, a frozen one, a server that rejects our pings, and auth.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdctl, freePort, startEtcd, type EtcdCluster } from '../../lib/testing';
import { checkLines, runCli } from './helpers';

describe('doctor', () => {
  let cluster: EtcdCluster;

  beforeAll(async () => {
    cluster = await startEtcd();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('checks a healthy endpoint in a few seconds by default, with measured values in --json', async () => {
    const ep = cluster.endpoints[0]!;
    const start = Date.now();
    const r = await runCli(['doctor', '--endpoints', ep, '--json']);
    const elapsedMs = Date.now() - start; // includes starting node and tsx
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(elapsedMs).toBeLessThan(8_000);
    type Check = { name: string; status: string; values?: Record<string, number | string> };
    const json = JSON.parse(r.stdout) as {
      healthy: boolean;
      durationMs: number;
      counts: Record<string, number>;
      endpoints: Array<{ endpoint: string; checks: Check[] }>;
    };
    expect(json.healthy).toBe(true);
    expect(json.durationMs).toBeLessThan(3_000);
    expect(json.counts).toEqual({ pass: 7, warn: 0, fail: 0, skip: 2 });
    const byName = Object.fromEntries(json.endpoints[0]!.checks.map(c => [c.name, c]));
    expect(byName.keepalive).toMatchObject({ status: 'skip' });
    expect(byName.keepalive!.values).toBeUndefined();
    const num = expect.any(Number);
    expect(byName.reachable!.values).toEqual({ connectMs: num });
    expect(byName.responds!.values).toEqual({ statusMs: num, memberId: expect.any(String) });
    expect(byName.latency!.values).toEqual({ medianMs: num, maxMs: num, samples: 5 });
    expect(byName.version!.values).toMatchObject({ dbSizeBytes: num, raftTerm: num });
    expect(byName.members!.values).toEqual({ members: 1, learners: 0, unstarted: 0 });
    expect(byName.leader!.values).toMatchObject({ raftTerm: num });
  });

  it('passes every check of a healthy endpoint (conclusive keepalive check) and exits 0', async () => {
    const ep = cluster.endpoints[0]!;
    const r = await runCli(['doctor', '--endpoints', ep, '--keepalive']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const name of [
      'reachable',
      'responds',
      'latency',
      'version',
      'leader',
      'members',
      'auth',
    ]) {
      expect(checkLines(r.stdout, ep, name)).toMatch(/^ {2}\[PASS\]/);
    }
    expect(checkLines(r.stdout, ep, 'tls')).toMatch(/\[SKIP\] tls +plaintext/);
    expect(checkLines(r.stdout, ep, 'leader')).toContain('m0 (this member)');
    expect(checkLines(r.stdout, ep, 'version')).toMatch(/etcd 3\.\d+\.\d+/);
    // Default hold: 4 pings at 5 s + 2 s, long enough for etcd's 3-strike policy.
    expect(checkLines(r.stdout, ep, 'keepalive')).toMatch(
      /\[PASS\] keepalive .*every 5000 ms stayed open for 22 s \(long enough/,
    );
    expect(r.stdout).toContain('Verdict: HEALTHY (1 endpoint)');
    expect(r.stdout).not.toContain('FIX:');
  });

  it('fails a dead endpoint with a fix, still checks the live one, and exits 1', async () => {
    const live = cluster.endpoints[0]!;
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await runCli([
      'doctor',
      '--endpoints',
      `${live},${dead}`,
      '--keepalive-check-ms',
      '500',
    ]);
    expect(r.code).toBe(1);
    expect(checkLines(r.stdout, dead, 'reachable')).toMatch(
      /\[FAIL\] reachable .*ECONNREFUSED\n.*FIX: Nothing listens on/,
    );
    expect(checkLines(r.stdout, dead, 'leader')).toMatch(/\[SKIP\] leader +endpoint not reachable/);
    expect(checkLines(r.stdout, live, 'responds')).toMatch(/\[PASS\]/);
    expect(r.stdout).toContain(`Verdict: UNHEALTHY (1 of 2 endpoints failed: ${dead}: reachable)`);
  });

  it('fails a frozen endpoint (TCP accepts, nothing answers) within its timeout, with a fix', async () => {
    const frozen = await startEtcd();
    try {
      frozen.member(0).freeze();
      const ep = frozen.endpoints[0]!;
      const start = Date.now();
      const r = await runCli([
        'doctor',
        '--endpoints',
        ep,
        '--timeout',
        '1000',
        '--keepalive-check-ms',
        '500',
        '--json',
      ]);
      expect(Date.now() - start).toBeLessThan(15_000);
      expect(r.code).toBe(1);
      const json = JSON.parse(r.stdout) as {
        healthy: boolean;
        endpoints: Array<{ checks: Array<{ name: string; status: string; fix?: string }> }>;
      };
      expect(json.healthy).toBe(false);
      const byName = Object.fromEntries(json.endpoints[0]!.checks.map(c => [c.name, c]));
      expect(byName.reachable!.status).toBe('pass');
      expect(byName.responds!.status).toBe('fail');
      expect(byName.responds!.fix).toMatch(/SIGSTOP/);
      expect(byName.leader!.status).toBe('skip');
    } finally {
      frozen.member(0).thaw();
      await frozen.stop();
    }
  });

  it('fails the keepalive check with too_many_pings when the server wants rarer pings', async () => {
    // The server penalises pings closer than 10 s; the check pings every 2 s and holds
    // the watch for 4 pings (+2 s), when etcd's third strike closes the connection.
    const strict = await startEtcd({ extraArgs: ['--grpc-keepalive-min-time=10s'] });
    try {
      const ep = strict.endpoints[0]!;
      const r = await runCli(['doctor', '--endpoints', ep, '--keepalive-time-ms', '2000']);
      expect(r.code, r.stdout).toBe(1);
      expect(checkLines(r.stdout, ep, 'keepalive')).toMatch(
        /\[FAIL\] keepalive .*too_many_pings.*every 2000 ms\n.*FIX: The server's --grpc-keepalive-min-time is above 2000 ms/,
      );
      expect(checkLines(r.stdout, ep, 'responds')).toMatch(/\[PASS\]/);
      expect(r.stdout).toContain(`Verdict: UNHEALTHY (1 of 1 endpoints failed: ${ep}: keepalive)`);
    } finally {
      await strict.stop();
    }
  });

  it('checks auth: demanded but not given, wrong password, right password', async () => {
    const secured = await startEtcd();
    try {
      const ep = secured.endpoints[0]!;
      for (const args of [
        ['user', 'add', 'root:s3cret-pw', '--interactive=false'],
        ['auth', 'enable'],
      ]) {
        const res = await etcdctl(ep, args);
        expect(res.code, res.stderr).toBe(0);
      }
      const common = ['doctor', '--endpoints', ep, '--keepalive-check-ms', '500'];
      const [anonymous, wrong, right] = await Promise.all([
        runCli(common),
        runCli([...common, '--user', 'root', '--password-env', 'PW'], { PW: 'wrong' }),
        runCli([...common, '--user', 'root', '--password-env', 'PW'], { PW: 's3cret-pw' }),
      ]);
      expect(anonymous.code).toBe(1);
      expect(checkLines(anonymous.stdout, ep, 'auth')).toMatch(
        /\[FAIL\] auth +auth is enabled.*\n.*FIX: Pass --user NAME --password-env VAR/,
      );
      expect(wrong.code).toBe(1);
      expect(checkLines(wrong.stdout, ep, 'auth')).toMatch(
        /\[FAIL\] auth +authentication failed for root\n.*FIX: Wrong user name or password/,
      );
      expect(right.code, right.stdout).toBe(0);
      expect(checkLines(right.stdout, ep, 'auth')).toMatch(/\[PASS\] auth +authenticated as root/);
      expect(checkLines(right.stdout, ep, 'keepalive')).toMatch(/\[PASS\]/);
      for (const r of [anonymous, wrong, right]) {
        expect(r.stdout + r.stderr).not.toContain('s3cret-pw');
        expect(r.stdout + r.stderr).not.toMatch(/password["'=:\s]+wrong/);
      }
    } finally {
      await secured.stop();
    }
  });

  it('never prints credentials embedded in an endpoint URL, and rejects it as a usage error', async () => {
    const r = await runCli(['doctor', '--endpoints', `http://root:s3cret-pw@127.0.0.1:1`]);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).not.toContain('s3cret-pw');
    expect(r.stderr).toContain('http://root:***@127.0.0.1:1');
    const bad = await runCli(['doctor', '--endpoints', 'http://[bad']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a valid URL');
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });

  it('rejects bad usage with exit code 2 and the usage text', async () => {
    const r = await runCli(['doctor', '--user', 'root']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--user needs --password-env VAR');
    expect(r.stderr).toContain('Usage: etcd3-resilient doctor');
  });
});
