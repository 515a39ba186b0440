/**
 * Registration check: each client registers one instance under a 5 s lease before
 * the fault; a healthy observer polls both keys during and after the outage and
 * records when each disappeared and whether (and when) it came back.
 *
 * Raw etcd3 does what its README shows: `lease.put(key)` under `client.lease(ttl)`.
 * Ours uses `register()`.
 */
import type { Etcd3 as BaseEtcd3, Lease } from 'etcd3';
import { goNamingCodec, instanceKey } from '../../lib/service-record';
import { loadOurs, type OurRegistration } from './ours';
import { CLIENTS, type Addon, type ClientName, type ScenarioEnv } from './scenario';

/** Lease TTL of both registrations, in s. */
export const LEASE_TTL_S = 5;
const POLL_MS = 100;
const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms));

interface Track {
  key: string;
  lostAt?: number;
  restoredAt?: number;
}

/** Creates the add-on; see the file comment. */
export function registrationAddon(): Addon {
  const tracks = {} as Record<ClientName, Track>;
  let rawLease: Lease | undefined;
  let ours: OurRegistration | undefined;
  let healedAt = Infinity;
  let polling: Promise<void> | undefined;
  let stopAt = Infinity;

  async function poll(env: ScenarioEnv): Promise<void> {
    while (env.now() < stopAt) {
      for (const name of CLIENTS) {
        const t = tracks[name];
        const present = await env.observer
          .get(t.key)
          .string()
          .then(
            v => v !== null,
            () => undefined,
          );
        if (present === false && t.lostAt === undefined) {
          t.lostAt = env.now();
          env.marker(t.lostAt, 'key gone', name);
        }
        if (
          present === true &&
          t.lostAt !== undefined &&
          t.restoredAt === undefined &&
          env.now() >= healedAt
        ) {
          t.restoredAt = env.now();
          env.marker(t.restoredAt, 'registration back', name);
        }
      }
      if (CLIENTS.every(n => tracks[n].restoredAt !== undefined)) return;
      await sleep(POLL_MS);
    }
  }

  return {
    column: 'registration restored',
    async setup(env) {
      for (const name of CLIENTS) {
        const service = `${env.prefix}svc-${name}`;
        tracks[name] = { key: instanceKey('', service, 'i1') };
        const value = goNamingCodec.encode({
          service,
          id: 'i1',
          addr: '127.0.0.1:9000',
          metadata: null,
        });
        if (name === 'raw') {
          rawLease = (env.clients.raw as BaseEtcd3).lease(LEASE_TTL_S);
          rawLease.on('lost', () => undefined);
          await rawLease.put(tracks[name].key).value(value);
        } else {
          ours = await loadOurs().register(env.clients.ours, {
            service,
            id: 'i1',
            addr: '127.0.0.1:9000',
            ttlSeconds: LEASE_TTL_S,
          });
        }
      }
    },
    async duringFault(env) {
      polling = poll(env);
    },
    async afterHeal(_env, at, until) {
      healedAt = at;
      stopAt = until;
      await polling;
    },
    result() {
      const cell = (t: Track) => {
        if (t.lostAt === undefined) return 'never lost';
        if (t.restoredAt === undefined) return '**no** (key gone for good)';
        return `yes, ${((t.restoredAt - healedAt) / 1000).toFixed(1)} s after heal`;
      };
      return { ours: cell(tracks.ours), raw: cell(tracks.raw) };
    },
    async teardown() {
      stopAt = -Infinity;
      await Promise.race([ours?.close().catch(() => undefined), sleep(3000)]);
      rawLease?.release();
    },
  };
}
