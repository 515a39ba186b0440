/**
 * The fault matrix: each fault as a {@link FaultSpec}. Durations are chosen to be
 * longer than every timeout involved (deadline 5 s, keepalive 6 s + 4 s) where
 * that matters, and short enough for the whole matrix to finish in < 10 min.
 */
import type { EtcdMember } from '../../lib/testing';
import { discoveryAddon } from './discovery-addon';
import { registrationAddon } from './registration-addon';
import { latencyFault } from './latency-fault';
import { followerFrozen, latencyFourSeconds } from './tail-faults';
import { CLIENTS, type FaultSpec, type ScenarioEnv } from './scenario';

const allProxies = (env: ScenarioEnv) => CLIENTS.flatMap(name => env.proxies[name]);

/** Fully dead path: existing flows silent, new connections accepted but silent too. */
const blackholeAll = (env: ScenarioEnv) => {
  for (const p of allProxies(env)) {
    p.blackhole('both');
    p.blackholeNew(true);
  }
};
const passAll = (env: ScenarioEnv) => {
  for (const p of allProxies(env)) p.pass();
};

/** SIGKILL, then restart after `holdMs`; heal resolves once the member is healthy again. */
export const kill: FaultSpec = {
  id: 'kill-restart',
  title: 'Member SIGKILL, restarted after 5 s (1 member)',
  label: 'SIGKILL → restart',
  how: 'SIGKILL the only member, restart it 5 s later with the same data dir; the window ends when it is healthy again.',
  members: 1,
  proxied: false,
  holdMs: 5000,
  inject: env => env.cluster.member(0).kill('SIGKILL'),
  heal: env => env.cluster.member(0).restart(),
};

/** SIGSTOP: the process keeps its sockets but answers nothing. */
export const freeze: FaultSpec = {
  id: 'sigstop',
  title: 'Member frozen with SIGSTOP for 10 s (1 member)',
  label: 'SIGSTOP 10 s',
  how: 'SIGSTOP the only member (TCP stays up, nothing answers), SIGCONT 10 s later.',
  members: 1,
  proxied: false,
  holdMs: 10_000,
  inject: env => env.cluster.member(0).freeze(),
  heal: env => env.cluster.member(0).thaw(),
};

/** Dead network path through the proxy, then healed. */
export const blackhole: FaultSpec = {
  id: 'blackhole',
  title: 'Network blackhole for 10 s (existing and new connections silent)',
  label: 'blackhole 10 s',
  how: 'Each client through its own proxy; every byte dropped on open connections and new connections accepted but never answered; then normal forwarding.',
  members: 1,
  proxied: true,
  holdMs: 10_000,
  inject: blackholeAll,
  heal: passAll,
};

/** NAT / load-balancer flush: open flows go silent forever, new connections work. */
export const halfOpen: FaultSpec = {
  id: 'half-open',
  title: 'Half-open flush: open connections silent forever, new ones pass',
  label: 'flush (open flows silent from here on)',
  how: 'Each client through its own proxy; every open TCP flow is silenced for good (no FIN, no RST), new connections pass — as after a NAT or load-balancer flush.',
  members: 1,
  proxied: true,
  holdMs: 0,
  instant: true,
  lingerMs: 12_000,
  inject: env => {
    for (const p of allProxies(env)) p.blackhole('both');
  },
  heal: () => undefined,
};

/** TCP RSTs: every open connection reset, twice a second for 5 s. */
let resetTimer: NodeJS.Timeout | undefined;
export const reset: FaultSpec = {
  id: 'reset',
  title: 'Connection resets: every open connection RST twice a second for 5 s',
  label: 'RST every 500 ms',
  how: "Each client through its own proxy; every open connection (the client's and the proxy's side) is destroyed with a TCP RST every 500 ms for 5 s; reconnects are allowed.",
  members: 1,
  proxied: true,
  holdMs: 5000,
  lingerMs: 6000,
  inject: env => {
    const resetAll = () => {
      for (const p of allProxies(env)) p.reset();
    };
    resetAll();
    resetTimer = setInterval(resetAll, 500);
  },
  heal: () => clearInterval(resetTimer),
};

/** A slow network, round trips well within our 1 s read attempt timeout. */
export const latency = latencyFault(400, '');
/** A very slow network: round trips longer than our 1 s read attempt timeout. */
export const latencyBeyondAttempt = latencyFault(800, ' (round trip > our 1 s attempt timeout)');

let killedLeader: EtcdMember | undefined;
/** Leader SIGKILLed in a 3-member cluster, restarted 8 s later. */
export const leaderLoss: FaultSpec = {
  id: 'leader-loss',
  title: 'Leader SIGKILLed in a 3-member cluster, restarted after 8 s',
  label: 'leader SIGKILL → restart',
  how: 'Both clients know all 3 members; the current leader is SIGKILLed, a new one is elected, the old one restarts 8 s later.',
  members: 3,
  proxied: false,
  holdMs: 8000,
  inject: async env => {
    killedLeader = await env.cluster.leader();
    await killedLeader.kill('SIGKILL');
  },
  heal: async () => {
    await killedLeader?.restart();
  },
  note: 'writes that reach a follower while no leader exists wait in etcd until a new leader is elected or etcd gives up (~7 s); our client ends them at the 5 s deadline, raw etcd3 waits.',
};

/** Outage longer than the lease TTL: is the registration restored? */
export const leaseExpiry: FaultSpec = {
  id: 'lease-expiry',
  title: 'Lease expiry during a 12 s outage (TTL 5 s)',
  label: 'blackhole 12 s > lease TTL 5 s',
  how: 'Each client registers an instance under a 5 s lease, through its own proxy; the path is blackholed for 12 s so etcd expires both leases; then healed.',
  members: 1,
  proxied: true,
  holdMs: 12_000,
  lingerMs: 10_000,
  inject: blackholeAll,
  heal: passAll,
  addon: registrationAddon,
};

/** Changes plus compaction while the clients are cut off: does discovery converge? */
export const compaction: FaultSpec = {
  id: 'compaction',
  title: 'Compaction during an 8 s disconnect',
  label: 'blackhole 8 s; instances change; compact',
  how: 'Each client follows a service through its own proxy; while it is blackholed, instances are removed and added and the store is compacted past the watch revision; then healed.',
  members: 1,
  proxied: true,
  holdMs: 8000,
  lingerMs: 10_000,
  inject: blackholeAll,
  heal: passAll,
  addon: discoveryAddon,
  note: 'a plain `watch()` cannot survive a compaction past its revision: the history it would resume from is gone, so etcd cancels it and etcd3 emits `error` on the watcher, with either client (the audit watch is such a plain watch). Raw etcd3 lost fewer events here only because its old connection resumed after the heal without noticing the gap. `discover()` re-lists instead, which is what the last column checks.',
};

/** The full matrix, in report order. */
export const MATRIX: FaultSpec[] = [
  kill,
  freeze,
  blackhole,
  halfOpen,
  reset,
  latency,
  latencyBeyondAttempt,
  latencyFourSeconds,
  followerFrozen,
  leaderLoss,
  leaseExpiry,
  compaction,
];
