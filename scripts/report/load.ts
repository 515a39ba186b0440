/**
 * A steady stream of calls against one client, with every call recorded: when it
 * started, when (if ever) it settled, and how. Raw `etcd3` gets no client-side
 * deadline here on purpose: how it behaves on its own is what the report shows.
 */
import type { Etcd3 as BaseEtcd3 } from 'etcd3';

/** One call made by the load generator. Times are ms since the scenario's `t0`. */
export interface CallRecord {
  readonly seq: number;
  readonly op: 'get' | 'put';
  readonly start: number;
  /** Undefined while (or if forever) pending. */
  end?: number;
  ok?: boolean;
  /** Error class and message, shortened. */
  error?: string;
}

/** Options of {@link startLoad}. */
export interface LoadOptions {
  /** Key prefix this client reads and writes under, e.g. `report/kill/ours/`. */
  readonly prefix: string;
  /** ms between two calls. Defaults to 100. */
  readonly intervalMs?: number;
  /** Clock of the scenario: ms since its t0. */
  readonly now: () => number;
}

/** A running load; see {@link startLoad}. */
export interface Load {
  readonly records: CallRecord[];
  /** Stops issuing calls. Pending calls stay pending; records keep being filled in. */
  stop(): void;
}

/** Key every `get` reads (written before the load starts). */
export const readKey = (prefix: string): string => `${prefix}r`;
/** Key of the `seq`-th write; one key per write, so applied writes can be listed afterwards. */
export const writeKey = (prefix: string, seq: number): string =>
  `${prefix}w/${String(seq).padStart(6, '0')}`;

function describe(err: unknown): string {
  const e = err as { name?: string; message?: string };
  const text = `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`;
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/**
 * Issues one call every `intervalMs`, alternating `get(readKey)` and
 * `put(writeKey(seq))`, without waiting for earlier calls to settle (as request
 * handlers of a busy service would).
 */
export function startLoad(client: BaseEtcd3, options: LoadOptions): Load {
  const records: CallRecord[] = [];
  const intervalMs = options.intervalMs ?? 100;
  let seq = 0;
  const tick = () => {
    const n = seq++;
    const op = n % 2 === 0 ? 'get' : 'put';
    const rec: CallRecord = { seq: n, op, start: options.now() };
    records.push(rec);
    let call: Promise<unknown>;
    try {
      call =
        op === 'get'
          ? client.get(readKey(options.prefix)).string()
          : client.put(writeKey(options.prefix, n)).value(String(n)).exec();
    } catch (err) {
      call = Promise.reject(err);
    }
    call.then(
      () => {
        rec.end = options.now();
        rec.ok = true;
      },
      err => {
        rec.end = options.now();
        rec.ok = false;
        rec.error = describe(err);
      },
    );
  };
  const timer = setInterval(tick, intervalMs);
  tick();
  return {
    records,
    stop: () => clearInterval(timer),
  };
}
