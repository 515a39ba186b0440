/**
 * A fresh-connection probe for any gRPC target (`createGrpcClient`'s keeper, which
 * knows no service to call): a throwaway channel is asked to connect and watched until
 * it is READY (a server completed the HTTP/2 handshake: `answered`), in
 * TRANSIENT_FAILURE (the connection failed outright: `refused`), or the timeout passes
 * (`silent`). The channel is closed before the answer is given. The etcd pool uses a
 * status call instead (`pool/fresh-probe.ts`), which also tells a frozen member.
 */
import { connectivityState as S, type ChannelInterface } from '@grpc/grpc-js';
import type { PathAnswer, PathProbe } from './connect-overtake';

/**
 * A {@link PathProbe} over channels from `makeChannel`, which must give each one its own
 * connection (e.g. `grpc.use_local_subchannel_pool`). Never rejects.
 */
export function freshChannelProbe(makeChannel: () => ChannelInterface): PathProbe {
  return timeoutMs =>
    new Promise<PathAnswer>(resolve => {
      let channel: ChannelInterface | undefined;
      const done = (answer: PathAnswer) => {
        try {
          channel?.close();
        } catch {
          // Already closed: nothing to free.
        }
        resolve(answer);
      };
      try {
        channel = makeChannel();
        const deadline = Date.now() + timeoutMs;
        const follow = (state: S) => {
          if (state === S.READY) {
            done('answered');
          } else if (state === S.TRANSIENT_FAILURE) {
            done('refused');
          } else if (state === S.SHUTDOWN) {
            done('silent');
          } else {
            // Fires once, on the next change or (with an error) at the deadline.
            channel!.watchConnectivityState(state, deadline, err =>
              err ? done('silent') : follow(channel!.getConnectivityState(false)),
            );
          }
        };
        follow(channel.getConnectivityState(true));
      } catch {
        done('silent');
      }
    });
}
