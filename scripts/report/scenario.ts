/**
 * Runs one fault scenario: a fresh etcd cluster, our client and raw `etcd3` side by
 * side (each through its own fault proxy when the fault needs one), a steady load
 * and a watch on each, the fault, and afterwards the analysis. Everything it starts
 * is torn down before it returns, whatever happens.
 */
import { performance } from 'node:perf_hooks';
import { Etcd3 as RawEtcd3 } from 'etcd3';
import type { Etcd3 as BaseEtcd3 } from 'etcd3';
import { createClient } from '../../lib/client';
import { startEtcd, startProxy, type EtcdCluster, type FaultProxy } from '../../lib/testing';
import { analyze, HUNG_MS, type CallStats, type FaultWindow } from './analyze';
import { readKey, startLoad, type CallRecord, type Load } from './load';
import {
  startEventWriter,
  startWatchAudit,
  type WatchAudit,
  type WatchResult,
} from './watch-audit';

/** The two clients compared. */
export const CLIENTS = ['ours', 'raw'] as const;
export type ClientName = (typeof CLIENTS)[number];

/** Row labels. */
export const CLIENT_LABELS: Record<ClientName, string> = {
  ours: 'etcd3-resilient',
  raw: 'raw etcd3 1.1.2',
};

/** What a fault and its add-on see. */
export interface ScenarioEnv {
  readonly cluster: EtcdCluster;
  /** Per client, one proxy per member (empty when the fault needs none). */
  readonly proxies: Record<ClientName, FaultProxy[]>;
  readonly clients: Record<ClientName, BaseEtcd3>;
  /** A raw etcd3 client straight to the cluster, never faulted: the source of truth. */
  readonly observer: BaseEtcd3;
  /** Key prefix of this scenario, ending in `/`. */
  readonly prefix: string;
  /** ms since t0. */
  now(): number;
  /** Adds a dashed marker to the picture. */
  marker(at: number, label: string, client?: ClientName): void;
}

/** A registration / discovery check that runs alongside the load. */
export interface Addon {
  /** Before the load starts (clients connected, nothing faulted). */
  setup(env: ScenarioEnv): Promise<void>;
  /** Right after the fault was injected (e.g. writes and compaction during the outage). */
  duringFault?(env: ScenarioEnv): Promise<void>;
  /** After the fault was healed; may poll until `until` (ms since t0). */
  afterHeal(env: ScenarioEnv, healedAt: number, until: number): Promise<void>;
  /** Table cell per client, e.g. `restored after 1.2 s`. */
  result(): Record<ClientName, string>;
  /** Column title, e.g. `registration restored`. */
  readonly column: string;
  /** Releases what setup() created. Must not throw. */
  teardown(): Promise<void>;
}

/** One fault of the matrix. */
export interface FaultSpec {
  /** File-name-safe id, e.g. `sigstop`. */
  readonly id: string;
  readonly title: string;
  /** Shown on the fault window, e.g. `SIGSTOP 10 s`. */
  readonly label: string;
  /** How the fault is made, one sentence for the report. */
  readonly how: string;
  /** What a reader should know to interpret the outcome (method, not results). */
  readonly note?: string;
  readonly members: 1 | 3;
  /** Give each client its own proxy per member. */
  readonly proxied: boolean;
  /** ms between inject and heal; 0 for an instant fault. */
  readonly holdMs: number;
  /** ms observed after heal. Defaults to 8000. */
  readonly lingerMs?: number;
  inject(env: ScenarioEnv): Promise<void> | void;
  heal(env: ScenarioEnv): Promise<void> | void;
  /** For an instant fault: the fault window is just the instant of inject. */
  readonly instant?: boolean;
  readonly addon?: () => Addon;
}

/** Outcome for one client. */
export interface ClientOutcome {
  readonly stats: CallStats;
  readonly watch: WatchResult;
  readonly extra?: string;
  readonly records: CallRecord[];
}

/** Outcome of one scenario. */
export interface ScenarioResult {
  readonly spec: FaultSpec;
  readonly window: FaultWindow;
  /** ms since t0 when the load stopped. */
  readonly endMs: number;
  readonly clients: Record<ClientName, ClientOutcome>;
  readonly markers: Array<{ at: number; label: string; row?: number }>;
  /** Wall time of the whole scenario, setup and teardown included. */
  readonly wallMs: number;
  readonly addonColumn?: string;
}

const WARMUP_MS = 3000;
const DEFAULT_LINGER_MS = 8000;
const WATCH_SETTLE_MS = 3000;
const CLOSE_BOUND_MS = 3000;

const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms));
const bounded = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.catch(() => undefined), sleep(ms)]);

/** Runs `spec` and returns its outcome; `log` gets progress lines. */
export async function runScenario(
  spec: FaultSpec,
  log: (line: string) => void,
): Promise<ScenarioResult> {
  const wallStart = performance.now();
  const cleanups: Array<() => Promise<unknown>> = [];
  let result: ScenarioResult;
  try {
    const cluster = await startEtcd({ members: spec.members });
    cleanups.push(() => cluster.stop());
    const proxies: Record<ClientName, FaultProxy[]> = { ours: [], raw: [] };
    if (spec.proxied) {
      for (const name of CLIENTS) {
        for (const ep of cluster.endpoints) {
          const proxy = await startProxy({ target: ep });
          cleanups.push(() => proxy.close());
          proxies[name].push(proxy);
        }
      }
    }
    const hostsOf = (name: ClientName) =>
      spec.proxied ? proxies[name].map(p => p.endpoint) : cluster.endpoints;
    // Its own TCP connection: grpc-js would otherwise share one with raw etcd3 (same target, same options).
    const observer = new RawEtcd3({
      hosts: cluster.endpoints,
      grpcOptions: { 'grpc.use_local_subchannel_pool': 1 },
    });
    cleanups.push(async () => bounded(Promise.resolve(observer.close()), CLOSE_BOUND_MS));
    const clients: Record<ClientName, BaseEtcd3> = {
      ours: createClient({ hosts: hostsOf('ours') }),
      raw: new RawEtcd3({ hosts: hostsOf('raw') }),
    };
    for (const name of CLIENTS) {
      cleanups.push(async () => bounded(Promise.resolve(clients[name].close()), CLOSE_BOUND_MS));
    }
    let t0 = performance.now();
    const markers: ScenarioResult['markers'] = [];
    const prefix = `report/${spec.id}/`;
    const env: ScenarioEnv = {
      cluster,
      proxies,
      clients,
      observer,
      prefix,
      now: () => performance.now() - t0,
      marker: (at, label, client) =>
        markers.push({ at, label, row: client ? CLIENTS.indexOf(client) : undefined }),
    };
    const addon = spec.addon?.();
    if (addon) cleanups.push(() => addon.teardown());
    const audits = {} as Record<ClientName, WatchAudit>;
    for (const name of CLIENTS) {
      await observer.put(readKey(`${prefix}${name}/`)).value('v');
      audits[name] = await startWatchAudit(clients[name], `${prefix}events/`);
    }
    await addon?.setup(env);

    t0 = performance.now();
    const writer = startEventWriter(observer, `${prefix}events/`);
    const loads = {} as Record<ClientName, Load>;
    for (const name of CLIENTS) {
      loads[name] = startLoad(clients[name], { prefix: `${prefix}${name}/`, now: env.now });
    }
    await sleep(WARMUP_MS);
    log(`  inject: ${spec.label}`);
    const faultStart = env.now();
    await spec.inject(env);
    const during = addon?.duringFault?.(env);
    await sleep(spec.holdMs);
    await during;
    await spec.heal(env);
    const faultEnd = spec.instant ? faultStart : env.now();
    log(`  healed at ${(faultEnd / 1000).toFixed(1)} s`);
    const lingerUntil = faultEnd + (spec.lingerMs ?? DEFAULT_LINGER_MS);
    const afterHeal = addon?.afterHeal(env, faultEnd, lingerUntil);
    await sleep(Math.max(0, lingerUntil - env.now()));
    for (const name of CLIENTS) loads[name].stop();
    const endMs = env.now();
    await writer.stop();
    await afterHeal;
    // Give calls in flight up to HUNG_MS to settle; whatever is still pending then hung.
    const drainBy = performance.now() + HUNG_MS;
    while (
      CLIENTS.some(n => loads[n].records.some(r => r.end === undefined)) &&
      performance.now() < drainBy
    ) {
      await sleep(100);
    }
    const window: FaultWindow = { start: faultStart, end: faultEnd };
    const extras = addon?.result();
    const outcome = {} as Record<ClientName, ClientOutcome>;
    for (const name of CLIENTS) {
      const records = loads[name].records.map(r => ({ ...r }));
      outcome[name] = {
        stats: analyze(records, window),
        watch: await audits[name].finish(observer, WATCH_SETTLE_MS),
        records,
        ...(extras ? { extra: extras[name] } : {}),
      };
    }
    result = {
      spec,
      window,
      endMs,
      clients: outcome,
      markers,
      wallMs: 0,
      ...(addon ? { addonColumn: addon.column } : {}),
    };
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch(err => log(`  cleanup failed: ${String(err)}`));
    }
  }
  const wallMs = performance.now() - wallStart;
  log(`  done in ${(wallMs / 1000).toFixed(1)} s`);
  return { ...result, wallMs };
}
