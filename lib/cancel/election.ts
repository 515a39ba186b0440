/**
 * `election.campaign(value, { signal })`: aborting the signal before this candidate is
 * elected ends the campaign: it resigns (its lease is revoked, deleting its key) and
 * emits `error` with an `AbortError` (so `campaign.wait()` rejects). An already-aborted
 * signal sends nothing (the lease grant is refused before it is sent). Once elected,
 * the signal no longer matters, as with a Go context given to `Campaign`.
 */
import type { Campaign, Election, Namespace } from 'etcd3';
import { abortError, onAbort, takeSignal } from '../policy/abort';
import { signalForGrantOnly } from './lease';

declare module 'etcd3/lib/election' {
  interface Election {
    /**
     * etcd3-resilient: `options.signal` ends the campaign (resign, then `error` with an
     * `AbortError`) if it aborts before this candidate is elected.
     */
    campaign(value: string | Buffer, options?: { signal?: AbortSignal }): Campaign;
  }
}

/** Makes `election.campaign()` accept `{ signal }` (other options pass through). Returns `election`. */
export function abortableElection<E extends Election>(election: E): E {
  const e = election as unknown as {
    namespace?: Namespace;
    campaign(value: string | Buffer, options?: object): Campaign;
  };
  const campaign = e.campaign;
  const ns = e.namespace;
  if (!ns || typeof ns.lease !== 'function') {
    return election; // unexpected etcd3 shape: keep etcd3's campaign
  }
  e.campaign = (value: string | Buffer, options?: { signal?: AbortSignal }): Campaign => {
    const { signal, rest } = takeSignal(options ?? {});
    if (!signal) {
      return campaign.call(election, value, options);
    }
    // The campaign's lease is granted (synchronously, in the constructor) with the
    // signal: an aborted one is never sent. Later calls of the lease do not see it.
    const lease = ns.lease;
    ns.lease = (ttl, leaseOptions) =>
      signalForGrantOnly(lease.call(ns, ttl, { ...leaseOptions, signal }));
    let c: Campaign;
    try {
      c = campaign.call(election, value, rest);
    } finally {
      ns.lease = lease;
    }
    // Settled once elected, failed or aborted; after an abort, only its one `error`
    // is emitted (not the lease grant failing on the same abort).
    let settled = false;
    let aborted = false;
    const emit = c.emit;
    const off = onAbort(signal, () => {
      if (!settled) {
        settled = aborted = true;
        const err = abortError(signal, 'election campaign');
        // Not synchronously: an already-aborted signal fires here, inside campaign(),
        // before the caller could listen for `error`.
        process.nextTick(() => emit.call(c, 'error', err));
        c.resign().catch(() => undefined);
      }
    });
    c.emit = (event: string | symbol, ...args: unknown[]): boolean => {
      if (event === 'error' || event === 'elected') {
        if (aborted && event === 'error') {
          return false;
        }
        settled = true;
        off();
      }
      return emit.call(c, event, ...args);
    };
    return c;
  };
  return election;
}
