/**
 * Added latency on the network path, as a fault of the matrix: each client through its
 * own proxy, the same delay on every chunk in both directions.
 */
import { CLIENTS, type FaultSpec } from './scenario';

/** Added latency on every chunk in both directions, for 10 s. */
export function latencyFault(msEachWay: number, note: string): FaultSpec {
  return {
    id: `latency-${msEachWay}`,
    title: `Latency: +${msEachWay} ms each way for 10 s${note}`,
    label: `+${msEachWay} ms each way`,
    how: `Each client through its own proxy; ${msEachWay} ms added to every chunk in both directions for 10 s (a round trip takes about ${(2 * msEachWay) / 1000} s).`,
    members: 1,
    proxied: true,
    holdMs: 10_000,
    lingerMs: 6000,
    inject: env => {
      for (const p of CLIENTS.flatMap(name => env.proxies[name])) p.delay(msEachWay);
    },
    heal: env => {
      for (const p of CLIENTS.flatMap(name => env.proxies[name])) p.pass();
    },
    ...(msEachWay * 2 >= 1000
      ? {
          note: "our client gives a read attempt 1 s (`attemptTimeoutMs`) before trying the next member; with one member and a round trip above that, reads fail where raw etcd3's succeed slowly, and the open breaker then fails writes fast too. On such a network raise `attemptTimeoutMs` above the round trip (`doctor` fails the latency check in this case).",
        }
      : {}),
  };
}
