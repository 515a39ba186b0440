/**
 * Tiny HTTP(S) client for etcd's `/health` endpoint and v3 JSON gateway
 * (`/v3/maintenance/status`), used for health checks and leader discovery.
 * No keep-alive agent: no socket outlives a request.
 */
import * as http from 'node:http';
import * as https from 'node:https';

/** TLS material for talking to an https etcd (PEM strings or buffers). */
export interface EtcdTlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

/**
 * Sends one request and parses the JSON reply. Rejects on a network error, a
 * non-2xx status, invalid JSON, or after `timeoutMs` (default 1000 ms).
 */
export function requestJson(
  url: string,
  opts: { method?: 'GET' | 'POST'; body?: unknown; timeoutMs?: number; tls?: EtcdTlsOptions } = {},
): Promise<any> {
  const u = new URL(url);
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const mod = u.protocol === 'https:' ? https : http;
  const timeoutMs = opts.timeoutMs ?? 1000;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: opts.method ?? 'GET',
        agent: false,
        headers: body ? { 'content-type': 'application/json' } : {},
        ...(u.protocol === 'https:' ? opts.tls : {}),
      },
      res => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', d => (text += d));
        res.on('end', () => {
          clearTimeout(timer);
          if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) {
            const status = res.statusCode;
            return reject(new Error(`${url} answered HTTP ${status}: ${text.slice(0, 200)}`));
          }
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(new Error(`${url} answered invalid JSON: ${text.slice(0, 200)}`));
          }
        });
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`${url} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    timer.unref();
    req.on('error', err => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}

/** True when `GET <clientUrl>/health` answers `{"health":"true"}` within `timeoutMs`. */
export async function isHealthy(
  clientUrl: string,
  tls?: EtcdTlsOptions,
  timeoutMs = 1000,
): Promise<boolean> {
  try {
    const reply = await requestJson(`${clientUrl}/health`, { timeoutMs, tls });
    return reply?.health === 'true' || reply?.health === true;
  } catch {
    return false;
  }
}

/** Member id and the leader's member id (decimal strings) as one member sees them. */
export interface MemberStatus {
  memberId: string;
  leaderId: string;
}

/** `POST <clientUrl>/v3/maintenance/status` with body `{}`. */
export async function memberStatus(
  clientUrl: string,
  tls?: EtcdTlsOptions,
  timeoutMs = 1000,
): Promise<MemberStatus> {
  const reply = await requestJson(`${clientUrl}/v3/maintenance/status`, {
    method: 'POST',
    body: {},
    timeoutMs,
    tls,
  });
  return {
    memberId: String(reply?.header?.member_id ?? ''),
    leaderId: String(reply?.leader ?? ''),
  };
}
