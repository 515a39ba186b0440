/**
 * Connection flags shared by the CLI commands: TLS files, user and password
 * (from an environment variable, never from the command line).
 */
import { readFileSync } from 'node:fs';
import type { IOptions } from 'etcd3';
import { stringFlag, UsageError, type ParsedArgs } from './args';

/** TLS material read from `--cacert`, `--cert`, `--key`. */
export interface TlsFiles {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** User and password for etcd auth. The password never leaves this object. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

function readPem(args: ParsedArgs, flag: string): Buffer | undefined {
  const file = stringFlag(args, flag);
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(
      `--${flag} ${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
}

/** Reads the TLS files named on the command line. */
export function tlsFiles(args: ParsedArgs): TlsFiles {
  const tls = {
    ca: readPem(args, 'cacert'),
    cert: readPem(args, 'cert'),
    key: readPem(args, 'key'),
  };
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new UsageError('--cert and --key go together (a client certificate and its private key)');
  }
  if (tls.cert && !tls.ca) {
    throw new UsageError('--cert needs --cacert (the CA that signed the server certificate)');
  }
  return tls;
}

/**
 * `--user NAME` with the password from the environment variable named by
 * `--password-env VAR` (so it does not show up in `ps` or shell history).
 */
export function credentials(args: ParsedArgs): Credentials | undefined {
  const username = stringFlag(args, 'user');
  const envName = stringFlag(args, 'password-env');
  if (username === undefined) {
    if (envName !== undefined) throw new UsageError('--password-env needs --user');
    return undefined;
  }
  if (envName === undefined)
    throw new UsageError('--user needs --password-env VAR (the variable holding the password)');
  const password = process.env[envName];
  if (password === undefined)
    throw new UsageError(`--password-env ${envName}: the environment variable is not set`);
  return { username, password };
}

/**
 * etcd3 options for `hosts` with the given TLS material and credentials. An
 * `https://` endpoint without `--cacert` is verified against the system's roots.
 */
export function etcd3Options(
  hosts: string[],
  tls: TlsFiles,
  auth: Credentials | undefined,
): Partial<IOptions> {
  return {
    hosts,
    ...(tls.ca
      ? { credentials: { rootCertificate: tls.ca, certChain: tls.cert, privateKey: tls.key } }
      : {}),
    ...(auth ? { auth: { username: auth.username, password: auth.password } } : {}),
  };
}
