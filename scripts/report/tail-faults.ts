/**
 * Faults of issue 12 (tail latency): a link slower than a 4 s round trip would allow
 * with the old timeouts, and one member of three frozen.
 */
import type { EtcdMember } from '../../lib/testing';
import { latencyFault } from './latency-fault';
import type { FaultSpec } from './scenario';

/** Round trips of 4 s: inside the 5 s deadline, longer than the 4 s keepalive timeout of old. */
export const latencyFourSeconds: FaultSpec = latencyFault(2000, ' (round trip 4 s, deadline 5 s)');

let frozenFollower: EtcdMember | undefined;
/** A follower of three frozen with SIGSTOP: its sockets stay open, nothing answers. */
export const followerFrozen: FaultSpec = {
  id: 'follower-frozen',
  title: 'One of 3 members (a follower) frozen with SIGSTOP for 10 s',
  label: 'follower SIGSTOP 10 s',
  how: 'Both clients know all 3 members; a follower is SIGSTOPped (TCP stays up, nothing answers) and SIGCONTed 10 s later.',
  members: 3,
  proxied: false,
  holdMs: 10_000,
  inject: async env => {
    const leader = await env.cluster.leader();
    frozenFollower = env.cluster.members.find(m => m !== leader);
    frozenFollower?.freeze();
  },
  heal: () => {
    frozenFollower?.thaw();
    frozenFollower = undefined;
  },
  note: 'a read or write already sent to the frozen member gets no answer; a client that waits for it stalls. Ours hedges a read that is slower than its recent round trips to another member, and a write that starts after the member was found frozen goes elsewhere.',
};
