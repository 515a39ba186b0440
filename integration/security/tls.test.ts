/**
 * TLS and mutual TLS against real etcd servers whose certificates the test makes
 * itself: the client verifies the server, presents its own certificate when asked,
 * and fails with a typed error that names the TLS problem (wrong CA, wrong host
 * name, missing client certificate) within the call deadline. It never falls back
 * to plaintext.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Etcd3 } from '../../lib/client';
import { NoEndpointAvailableError } from '../../lib/errors';
import { generateTestCerts, type TestCerts } from '../../lib/testing/certs';
import { startEtcd, type EtcdCluster } from '../../lib/testing';
import { fullMessage, healthCheckAs, outcome, startRecorder } from './helpers';

/** Short deadlines: a TLS failure must surface within them. */
const CALL_TIMEOUT_MS = 3000;
/** Slack over the deadline for a loaded 2-core machine. */
const MARGIN_MS = 1500;

let certs: TestCerts;
let otherCa: TestCerts;
const clients: Etcd3[] = [];
const client = (opts: ConstructorParameters<typeof Etcd3>[0]) => {
  const c = new Etcd3({ callTimeoutMs: CALL_TIMEOUT_MS, connectTimeoutMs: 1000, ...opts });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  [certs, otherCa] = await Promise.all([
    generateTestCerts(),
    generateTestCerts({ caCommonName: 'some other CA' }),
  ]);
});
afterAll(async () => {
  await Promise.all(clients.map(c => c.close()));
  certs?.remove();
  otherCa?.remove();
});

/** Asserts a failed call was typed, timely, and says what went wrong with TLS. */
function expectTlsFailure(r: { error?: unknown; ms: number }, wording: RegExp): void {
  expect(r.error, 'the call must fail').toBeDefined();
  console.log(`[tls] failed in ${Math.round(r.ms)} ms: ${fullMessage(r.error).slice(0, 400)}`);
  expect(r.error).toBeInstanceOf(NoEndpointAvailableError);
  expect(fullMessage(r.error)).toMatch(wording);
  expect(r.ms).toBeLessThan(CALL_TIMEOUT_MS + MARGIN_MS);
}

describe('server TLS', () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcd({
      scheme: 'https',
      extraArgs: certs.etcdArgs(),
      tls: { ca: certs.ca.cert },
    });
  });
  afterAll(() => cluster?.stop());

  test('the client verifies the server with rootCertificate; reads, writes and watches work', async () => {
    expect(cluster.endpoints[0]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const c = client({ hosts: cluster.endpoints, credentials: { rootCertificate: certs.ca.cert } });
    await c.put('tls/k').value('v1');
    expect(await c.get('tls/k').string()).toBe('v1');
    const watcher = await c.watch().key('tls/k').create();
    const seen = new Promise<string>(resolve =>
      watcher.on('put', kv => resolve(kv.value.toString())),
    );
    await c.put('tls/k').value('v2');
    expect(await seen).toBe('v2');
    await watcher.cancel();
    expect(c.health().healthy).toBe(true);
  });

  test('a name in the certificate (localhost) works as well as its IP', async () => {
    const c = client({
      hosts: cluster.endpoints.map(e => e.replace('127.0.0.1', 'localhost')),
      credentials: { rootCertificate: certs.ca.cert },
    });
    expect(await c.get('tls/k').string()).toBe('v2');
  });

  test('a server certificate from another CA fails typed, within the deadline, naming the verification failure', async () => {
    const c = client({
      hosts: cluster.endpoints,
      credentials: { rootCertificate: otherCa.ca.cert },
    });
    const r = await outcome(() => c.get('tls/k').string());
    expectTlsFailure(r, /verify|certificate/i);
    // Writes too: a write that never got a connection fails the same way.
    expectTlsFailure(await outcome(() => c.put('tls/k').value('never')), /verify|certificate/i);
    expect(JSON.stringify(c.health())).toMatch(/verify|certificate/i);
  });

  test('https:// without rootCertificate uses the system CAs, which do not trust a private CA', async () => {
    const c = client({ hosts: cluster.endpoints });
    expectTlsFailure(
      await outcome(() => c.get('tls/k').string()),
      /verify|certificate|self.signed/i,
    );
  });

  test('a plaintext client cannot talk to a TLS server (it fails; nothing is downgraded)', async () => {
    const c = client({ hosts: cluster.endpoints.map(e => e.replace('https://', 'http://')) });
    const r = await outcome(() => c.get('tls/k').string());
    expect(r.error).toBeInstanceOf(NoEndpointAvailableError);
    expect(r.ms).toBeLessThan(CALL_TIMEOUT_MS + MARGIN_MS);
  });
});

describe('host name verification', () => {
  let cluster: EtcdCluster;
  let wrongName: TestCerts;
  beforeAll(async () => {
    wrongName = await generateTestCerts({ serverSans: ['DNS:etcd.invalid'] });
    cluster = await startEtcd({
      scheme: 'https',
      extraArgs: wrongName.etcdArgs(),
      healthCheck: healthCheckAs(wrongName.ca.cert, 'etcd.invalid'),
    });
  });
  afterAll(async () => {
    await cluster?.stop();
    wrongName?.remove();
  });

  test('a certificate that does not name 127.0.0.1 fails typed, within the deadline, naming the mismatch', async () => {
    const c = client({
      hosts: cluster.endpoints,
      credentials: { rootCertificate: wrongName.ca.cert },
    });
    const r = await outcome(() => c.get('k').string());
    expectTlsFailure(r, /altname|does not match|hostname/i);
  });
});

describe('mutual TLS (--client-cert-auth)', () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcd({
      scheme: 'https',
      extraArgs: certs.etcdArgs({ clientCertAuth: true }),
      tls: { ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key },
    });
  });
  afterAll(() => cluster?.stop());

  test('a client certificate signed by the trusted CA is accepted', async () => {
    const c = client({
      hosts: cluster.endpoints,
      credentials: {
        rootCertificate: certs.ca.cert,
        privateKey: certs.client.key,
        certChain: certs.client.cert,
      },
    });
    await c.put('mtls/k').value('yes');
    expect(await c.get('mtls/k').string()).toBe('yes');
    const lease = c.lease(10);
    await lease.put('mtls/leased').value('x');
    expect(await c.get('mtls/leased').string()).toBe('x');
    await lease.revoke();
  });

  test('without a client certificate the handshake is refused: typed error within the deadline', async () => {
    const c = client({ hosts: cluster.endpoints, credentials: { rootCertificate: certs.ca.cert } });
    const r = await outcome(() => c.get('mtls/k').string());
    expectTlsFailure(r, /TLS|certificate|socket disconnected|handshake/i);
  });

  test('a client certificate from an untrusted CA is refused likewise', async () => {
    const c = client({
      hosts: cluster.endpoints,
      credentials: {
        rootCertificate: certs.ca.cert,
        privateKey: otherCa.client.key,
        certChain: otherCa.client.cert,
      },
    });
    expectTlsFailure(
      await outcome(() => c.get('mtls/k').string()),
      /TLS|certificate|socket disconnected|handshake|alert/i,
    );
  });
});

describe('no plaintext fallback', () => {
  test('an https:// host speaks TLS from the first byte and never sends the request in clear', async () => {
    const recorder = await startRecorder();
    try {
      const c = client({
        hosts: `https://127.0.0.1:${recorder.port}`,
        credentials: { rootCertificate: certs.ca.cert },
      });
      const secretValue = 'plaintext-canary-7f3a';
      const r = await outcome(() => c.put('canary').value(secretValue));
      expect(r.error).toBeInstanceOf(NoEndpointAvailableError);
      expect(recorder.firstBytes.length).toBeGreaterThan(0);
      for (const first of recorder.firstBytes) {
        expect(first[0], 'TLS handshake record').toBe(0x16);
      }
      const wire = recorder.all().toString('latin1');
      expect(wire).not.toContain('PRI * HTTP/2.0');
      expect(wire).not.toContain(secretValue);
      expect(wire).not.toContain('canary');
    } finally {
      await recorder.close();
    }
  });

  test('credentials with an http:// host still use TLS (a plaintext etcd is not reached)', async () => {
    await using plain = await startEtcd();
    const c = client({ hosts: plain.endpoints, credentials: { rootCertificate: certs.ca.cert } });
    const r = await outcome(() => c.put('downgrade').value('x'));
    expect(r.error).toBeInstanceOf(NoEndpointAvailableError);
    expect(r.ms).toBeLessThan(CALL_TIMEOUT_MS + MARGIN_MS);
  });

  test('an https:// host against a plaintext etcd fails typed; the key is not written', async () => {
    await using plain = await startEtcd();
    const c = client({
      hosts: plain.endpoints.map(e => e.replace('http://', 'https://')),
      credentials: { rootCertificate: certs.ca.cert },
    });
    const r = await outcome(() => c.put('downgrade').value('x'));
    expectTlsFailure(r, /TLS|secure|socket|wrong version|packet length/i);
    const check = client({ hosts: plain.endpoints });
    expect(await check.get('downgrade').string()).toBeNull();
  });
});
