/**
 * Network probes of `doctor` below gRPC: TCP reachability and the TLS handshake.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { TlsFiles } from './connection';
import type { CheckResult } from './report';

/** `ms` rounded to 0.1 ms, as printed. */
export const round = (ms: number): number => Math.round(ms * 10) / 10;

/** `host` and `port` of an endpoint URL. */
export function hostPort(endpoint: string): { host: string; port: number } {
  const url = new URL(endpoint);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 2379) };
}

/** TCP connect within `timeoutMs`. */
export function checkReachable(endpoint: string, timeoutMs: number): Promise<CheckResult> {
  const { host, port } = hostPort(endpoint);
  const start = performance.now();
  return new Promise(resolve => {
    const socket = net.connect({ host, port });
    const done = (r: CheckResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () =>
        done({
          name: 'reachable',
          status: 'fail',
          detail: `no TCP connection to ${host}:${port} within ${timeoutMs} ms (packets dropped?)`,
          fix: 'A firewall or security group is dropping the traffic, or the host is down. Check the route and the rules for this port.',
        }),
      timeoutMs,
    );
    socket.once('connect', () => {
      const connectMs = round(performance.now() - start);
      done({
        name: 'reachable',
        status: 'pass',
        detail: `TCP connect in ${connectMs.toFixed(1)} ms`,
        values: { connectMs },
      });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const refused = err.code === 'ECONNREFUSED';
      done({
        name: 'reachable',
        status: 'fail',
        detail: `${host}:${port}: ${err.code ?? err.message}`,
        fix: refused
          ? `Nothing listens on ${host}:${port}. Is etcd running, and does its --listen-client-urls include this address?`
          : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN'
            ? `The host name ${host} does not resolve. Check the endpoint's spelling and DNS.`
            : 'Check the address, the route and the firewall.',
      });
    });
  });
}

/** Explains a TLS verification error code. */
function tlsFix(code: string | undefined, message: string): string {
  switch (code) {
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return "The server's certificate is not signed by a CA this client trusts: pass the cluster's CA with --cacert (and the same file as `credentials.rootCertificate` in your service).";
    case 'CERT_HAS_EXPIRED':
      return "The server's certificate has expired: renew it (and check the clocks).";
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return 'The certificate does not name this host: connect with a name or IP listed in its subjectAltName, or re-issue it with this one.';
    default:
      if (/certificate required|bad certificate|unknown ca|alert number 116/i.test(message)) {
        return 'The server wants a client certificate it trusts (--client-cert-auth): pass --cert and --key signed by its --trusted-ca-file.';
      }
      if (/wrong version number|packet length too long|unknown protocol/i.test(message)) {
        return 'The server does not speak TLS on this port: use http:// for this endpoint.';
      }
      return "Check the certificate files and the server's TLS flags (--cert-file, --key-file, --trusted-ca-file).";
  }
}

/** TLS handshake (ALPN h2) with the given CA and client certificate, for `https://` endpoints. */
export function checkTls(
  endpoint: string,
  files: TlsFiles,
  timeoutMs: number,
): Promise<CheckResult> {
  if (!endpoint.startsWith('https://')) {
    return Promise.resolve({ name: 'tls', status: 'skip', detail: 'plaintext endpoint (http://)' });
  }
  const { host, port } = hostPort(endpoint);
  return new Promise(resolve => {
    const socket = tls.connect({
      host,
      port,
      ca: files.ca,
      cert: files.cert,
      key: files.key,
      ALPNProtocols: ['h2'],
      ...(net.isIP(host) ? {} : { servername: host }),
    });
    const done = (r: CheckResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () =>
        done({
          name: 'tls',
          status: 'fail',
          detail: `no TLS handshake within ${timeoutMs} ms`,
          fix: tlsFix(undefined, 'wrong version number'),
        }),
      timeoutMs,
    );
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      const daysLeft = Math.floor((Date.parse(cert.valid_to) - Date.now()) / 86_400_000);
      const subject = cert.subject?.CN ?? 'unknown';
      const detail = `${socket.getProtocol()}, ALPN ${socket.alpnProtocol || 'none'}, certificate CN=${subject}, expires in ${daysLeft} days`;
      const values = { certificateDaysLeft: daysLeft, protocol: String(socket.getProtocol()) };
      if (socket.alpnProtocol !== 'h2') {
        done({
          name: 'tls',
          status: 'fail',
          detail,
          fix: 'The server did not agree to HTTP/2 (ALPN h2); gRPC needs it. Is this port etcd, or a TLS proxy without h2?',
          values,
        });
      } else if (daysLeft < 30) {
        done({
          name: 'tls',
          status: 'warn',
          detail,
          fix: "Renew the server's certificate soon.",
          values,
        });
      } else {
        done({ name: 'tls', status: 'pass', detail, values });
      }
    });
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done({
        name: 'tls',
        status: 'fail',
        detail: `${err.code ?? 'error'}: ${err.message}`,
        fix: tlsFix(err.code, err.message),
      }),
    );
  });
}
