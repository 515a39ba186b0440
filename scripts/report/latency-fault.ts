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
          note: 'a slow link is not a dead one: our client cuts no attempt short before the call deadline, hedges a read only to another member (there is none here), and probes the endpoint instead of rebuilding it (its status call is answered, late). Its keepalive timeout is the call deadline (5 s) and its connect limit stretches to the measured round trip, so a 4 s round trip keeps working.',
        }
      : {}),
  };
}
