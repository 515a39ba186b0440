/**
 * Throwaway X.509 material for TLS tests, made on the spot with the `openssl`
 * CLI (nothing downloaded): a CA, a server certificate and a client
 * certificate signed by it, as PEM files and buffers. Keys are ECDSA P-256,
 * certificates valid for one day.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidOptionError } from '../errors';
import { runDir } from './process-registry';

/** A certificate and its private key, as PEM buffers and as files. */
export interface CertPair {
  /** PEM certificate. */
  readonly cert: Buffer;
  /** PEM private key (unencrypted). */
  readonly key: Buffer;
  readonly certFile: string;
  readonly keyFile: string;
}

/** What {@link generateTestCerts} returns. */
export interface TestCerts {
  /** Directory holding every file; removed by {@link TestCerts.remove}. */
  readonly dir: string;
  /** The self-signed CA that signed `server` and `client`. */
  readonly ca: CertPair;
  /** Server certificate (serverAuth + clientAuth) with the requested subject alt names. */
  readonly server: CertPair;
  /** Client certificate (clientAuth), common name `clientCommonName`. */
  readonly client: CertPair;
  /**
   * etcd flags that serve client traffic with `server`:
   * `--cert-file`, `--key-file`, and with `clientCertAuth` also
   * `--client-cert-auth` and `--trusted-ca-file`.
   */
  etcdArgs(opts?: { clientCertAuth?: boolean }): string[];
  /** Deletes `dir`. Idempotent. */
  remove(): void;
  [Symbol.dispose](): void;
}

/** Options of {@link generateTestCerts}. */
export interface GenerateCertsOptions {
  /**
   * Subject alternative names of the server certificate, in openssl syntax.
   * Defaults to `['IP:127.0.0.1', 'DNS:localhost']`. Pass e.g. `['DNS:etcd.invalid']`
   * for a certificate that does not match 127.0.0.1.
   */
  serverSans?: string[];
  /** Common name of the client certificate (etcd maps it to a user with `--client-cert-auth`). Defaults to `'etcd3-resilient-test'`. */
  clientCommonName?: string;
  /** Common name of the CA; lets two CAs in one test be told apart. Defaults to `'etcd3-resilient test CA'`. */
  caCommonName?: string;
  /** openssl binary. Defaults to `'openssl'` on `PATH`. */
  opensslBin?: string;
}

/** Upper bound of one openssl run, in ms. */
const OPENSSL_TIMEOUT_MS = 20_000;
const SAN = /^(IP|DNS):[A-Za-z0-9.:*\-]+$/;
const CN = /^[A-Za-z0-9 ._@\-]{1,64}$/;

function run(bin: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { cwd, timeout: OPENSSL_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (err) {
        reject(
          new Error(
            `${bin} ${args[0]} failed: ${err.message.split('\n')[0]}; ${String(stderr).trim().slice(-500)}`,
          ),
        );
      } else {
        resolve();
      }
    });
  });
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Makes a key and a CSR for `cn`, then has the CA sign it with the extensions in `ext`. */
async function signed(
  bin: string,
  dir: string,
  name: string,
  cn: string,
  ext: string[],
): Promise<void> {
  await run(
    bin,
    [
      'req',
      '-new',
      ...EC_KEY,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    ],
    dir,
  );
  writeFileSync(path.join(dir, `${name}.ext`), `${ext.join('\n')}\n`);
  const serial = `0x${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
  await run(
    bin,
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-set_serial',
      serial,
      '-days',
      '1',
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
}

function pair(dir: string, name: string): CertPair {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  return { cert: readFileSync(certFile), key: readFileSync(keyFile), certFile, keyFile };
}

/**
 * Generates a CA, a server certificate and a client certificate in a fresh
 * directory (under `$ETCD3R_RUN_DIR/certs` when set, else `os.tmpdir()`).
 * Takes about 100 ms.
 *
 * @throws InvalidOptionError for a malformed SAN or common name.
 * @throws Error when openssl is missing or fails (its stderr is in the message).
 * @example
 * using certs = await generateTestCerts();
 * await using cluster = await startEtcd({ scheme: 'https', extraArgs: certs.etcdArgs(), tls: { ca: certs.ca.cert } });
 * const client = new Etcd3({ hosts: cluster.endpoints, credentials: { rootCertificate: certs.ca.cert } });
 */
export async function generateTestCerts(options: GenerateCertsOptions = {}): Promise<TestCerts> {
  const sans = options.serverSans ?? ['IP:127.0.0.1', 'DNS:localhost'];
  if (sans.length === 0 || !sans.every(s => SAN.test(s))) {
    throw new InvalidOptionError(
      'serverSans',
      `must be a non-empty list of IP:... or DNS:..., got ${JSON.stringify(sans)}`,
    );
  }
  const clientCn = options.clientCommonName ?? 'etcd3-resilient-test';
  const caCn = options.caCommonName ?? 'etcd3-resilient test CA';
  for (const [name, cn] of [
    ['clientCommonName', clientCn],
    ['caCommonName', caCn],
  ] as const) {
    if (!CN.test(cn))
      throw new InvalidOptionError(
        name,
        `must be 1-64 characters of [A-Za-z0-9 ._@-], got ${JSON.stringify(cn)}`,
      );
  }
  const bin = options.opensslBin ?? 'openssl';
  const parent = runDir() ? path.join(runDir()!, 'certs') : os.tmpdir();
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(path.join(parent, 'etcd3r-certs-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    await run(
      bin,
      [
        'req',
        '-x509',
        ...EC_KEY,
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-days',
        '1',
        '-sha256',
        '-subj',
        `/CN=${caCn}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir,
    );
    const leaf = [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
    ];
    await signed(bin, dir, 'server', 'etcd-server', [
      ...leaf,
      'extendedKeyUsage=serverAuth,clientAuth',
      `subjectAltName=${sans.join(',')}`,
    ]);
    await signed(bin, dir, 'client', clientCn, [...leaf, 'extendedKeyUsage=clientAuth']);
  } catch (err) {
    remove();
    throw err;
  }
  const server = pair(dir, 'server');
  const ca = pair(dir, 'ca');
  return {
    dir,
    ca,
    server,
    client: pair(dir, 'client'),
    etcdArgs: ({ clientCertAuth = false } = {}) => [
      `--cert-file=${server.certFile}`,
      `--key-file=${server.keyFile}`,
      ...(clientCertAuth ? ['--client-cert-auth', `--trusted-ca-file=${ca.certFile}`] : []),
    ],
    remove,
    [Symbol.dispose]: remove,
  };
}
