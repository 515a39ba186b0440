/**
 * Username/password auth against a real etcd with `--auth-token=simple` and a
 * 2 s `--auth-token-ttl`, so tokens expire during the test: calls and watches keep
 * working across expiry, a wrong password fails fast and typed without a retry
 * loop, and neither the password nor any token shows up in logs, errors or
 * `health()`.
 */
import { randomBytes } from 'node:crypto';
import { EtcdAuthenticationFailedError } from 'etcd3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Etcd3 } from '../../lib/client';
import { startEtcd, startProxy, type EtcdCluster, type FaultProxy } from '../../lib/testing';
import { enableAuth, etcdctlAll, sleep } from '../shared';
import { outcome } from './helpers';
import { captureTokens, leaked, memoryLogger, reachableText } from './secrets';

const TOKEN_TTL_S = 2;
/** Idle long enough for a simple token to expire (TTL plus etcd's 1 s sweep). */
const IDLE_MS = TOKEN_TTL_S * 1000 + 1500;

const password = `pw-${randomBytes(12).toString('hex')}`;
const wrongPassword = `wrong-${randomBytes(12).toString('hex')}`;
const { logger, lines: logLines } = memoryLogger();
let capture: ReturnType<typeof captureTokens>;
let cluster: EtcdCluster;
let proxy: FaultProxy;
const clients: Etcd3[] = [];
/** Every error the tests saw, searched for secrets at the end. */
const errorsSeen: unknown[] = [];

function authClient(
  pw: string,
  hosts: string | string[] = proxy.endpoint,
): { client: Etcd3; authCalls: () => number } {
  const client = new Etcd3({
    hosts,
    auth: { username: 'root', password: pw },
    logger,
    callTimeoutMs: 3000,
  });
  clients.push(client);
  let n = 0;
  client.onCall(e => {
    if (e.service === 'Auth' && e.method === 'authenticate') n++;
  });
  return { client, authCalls: () => n };
}

/** etcdctl as root, straight to etcd (not through the proxy). */
const ctl = (args: string[]): Promise<void> =>
  etcdctlAll(cluster.endpoints, [[`--user=root:${password}`, ...args]]);

beforeAll(async () => {
  capture = captureTokens();
  cluster = await startEtcd({
    extraArgs: ['--auth-token=simple', `--auth-token-ttl=${TOKEN_TTL_S}`],
  });
  await enableAuth(cluster.endpoints, password);
  proxy = await startProxy({ target: cluster.endpoints[0]! });
});

afterAll(async () => {
  await Promise.all(clients.map(c => c.close()));
  await proxy?.close();
  await cluster?.stop();
  capture?.restore();
});

describe('auth token expiry', () => {
  test(`calls, a watch and a new watcher keep working for > 3 x TTL (${TOKEN_TTL_S} s) with idle gaps that expire the token`, async () => {
    const { client, authCalls } = authClient(password);
    const watcher = await client.watch().key('auth/w').create();
    const values: string[] = [];
    watcher.on('put', kv => values.push(kv.value.toString()));
    watcher.on('error', err => errorsSeen.push(err));
    const lease = client.lease(30);
    await lease.put('auth/leased').value('alive');

    const start = Date.now();
    const rounds = 3;
    let calls = 0;
    for (let round = 0; round < rounds; round++) {
      await sleep(IDLE_MS); // the token expires while idle
      const results = await Promise.all([
        outcome(() => client.put('auth/w').value(`r${round}`)),
        outcome(() => client.get('auth/leased').string()),
        outcome(() => client.getAll().prefix('auth/').keys()),
      ]);
      for (const r of results) {
        if (r.error) errorsSeen.push(r.error);
        expect(r.error, String(r.error)).toBeUndefined();
      }
      expect(results[1]!.value).toBe('alive');
      calls += results.length;
    }
    const elapsed = Date.now() - start;
    expect(elapsed).toBeGreaterThan(3 * TOKEN_TTL_S * 1000);

    // A watcher created on the (old) watch stream after its token expired.
    await sleep(IDLE_MS);
    const late = await client.watch().key('auth/late').create();
    const lateSeen = new Promise<string>(resolve =>
      late.on('put', kv => resolve(kv.value.toString())),
    );
    await ctl(['put', 'auth/late', 'hello']);
    expect(await lateSeen).toBe('hello');

    // The watch stream reconnects (connection reset) with an expired token: the watch survives.
    await sleep(IDLE_MS);
    proxy.reset();
    await ctl(['put', 'auth/w', 'after-reset']);
    for (let i = 0; i < 100 && !values.includes('after-reset'); i++) await sleep(50);
    expect(values).toEqual(['r0', 'r1', 'r2', 'after-reset']);

    // Expiry really happened (re-authentication), and there was no authentication loop.
    console.log(
      `[auth] ${calls} calls over ${elapsed} ms, ${authCalls()} authentications, ${capture.tokens.size} distinct tokens`,
    );
    expect(authCalls()).toBeGreaterThanOrEqual(rounds);
    expect(authCalls()).toBeLessThanOrEqual(2 * rounds + 4);
    expect(capture.tokens.size).toBeGreaterThanOrEqual(2);
    expect(lease.revoked()).toBe(false);
    await lease.revoke();
    await watcher.cancel();
    await late.cancel();
  }, 60_000);
});

describe('wrong password', () => {
  test('fails fast with EtcdAuthenticationFailedError and is not retried in a loop', async () => {
    const { client, authCalls } = authClient(wrongPassword);
    const first = await outcome(() => client.get('auth/w').string());
    errorsSeen.push(first.error);
    expect(first.error).toBeInstanceOf(EtcdAuthenticationFailedError);
    expect(first.ms).toBeLessThan(1000);
    expect(authCalls()).toBe(1);

    // Ten more calls right away: all fail the same way, fast, without asking etcd again.
    for (let i = 0; i < 10; i++) {
      const r = await outcome(() => client.put('auth/x').value('nope'));
      errorsSeen.push(r.error);
      expect(r.error).toBeInstanceOf(EtcdAuthenticationFailedError);
      expect(r.ms).toBeLessThan(1000);
    }
    expect(authCalls()).toBe(1);
  });

  test('a watch with a wrong password reports the auth error and asks etcd at most once per hold period', async () => {
    const { client, authCalls } = authClient(wrongPassword);
    const watcher = client.watch().key('auth/w').watcher();
    const disconnects: unknown[] = [];
    watcher.on('disconnected', err => disconnects.push(err));
    const watchMs = 4000;
    await sleep(watchMs);
    errorsSeen.push(...disconnects);
    expect(disconnects.length).toBeGreaterThan(0);
    expect(disconnects.every(e => e instanceof EtcdAuthenticationFailedError)).toBe(true);
    // One attempt per 2 s hold, plus one: a loop would be dozens.
    expect(authCalls()).toBeLessThanOrEqual(Math.ceil(watchMs / 2000) + 1);
    await watcher.cancel();
  });
});

describe('secrets never leak', () => {
  test('no password or token in logs (pino, level trace), errors or health()', () => {
    expect(capture.tokens.size).toBeGreaterThan(0);
    expect(logLines.length).toBeGreaterThan(0);
    const secrets = [password, wrongPassword, ...capture.tokens];
    expect(leaked(logLines.join('\n'), secrets)).toEqual([]);
    expect(errorsSeen.length).toBeGreaterThan(10);
    for (const err of errorsSeen) {
      expect(leaked(reachableText(err), secrets)).toEqual([]);
    }
    for (const client of clients) {
      expect(leaked(JSON.stringify(client.health()), secrets)).toEqual([]);
    }
    console.log(
      `[auth] searched ${logLines.length} log lines, ${errorsSeen.length} errors, ${clients.length} health snapshots for ${secrets.length} secrets`,
    );
  });
});
