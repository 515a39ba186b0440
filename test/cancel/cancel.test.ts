/**
 * The signal wrappers of lib/cancel over fake etcd3 objects (no network): what is
 * built or sent for an aborted signal, what is cancelled or undone on abort.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import type { Election, Lease, Lock, WatchBuilder } from 'etcd3';
import { abortableElection } from '../../lib/cancel/election';
import { signalForGrantOnly } from '../../lib/cancel/lease';
import { abortableLock } from '../../lib/cancel/lock';
import { abortableWatch } from '../../lib/cancel/watch';

const aborted = () => {
  const ac = new AbortController();
  ac.abort();
  return ac.signal;
};

/** A WatchBuilder whose create() builds a watcher through watcher(), as etcd3's does. */
function fakeBuilder() {
  const watchers: Array<EventEmitter & { cancel: ReturnType<typeof vi.fn> }> = [];
  const builder = {
    watcher() {
      const w = Object.assign(new EventEmitter(), {
        cancel: vi.fn(() => {
          w.emit('end');
          return Promise.resolve();
        }),
      });
      watchers.push(w);
      return w;
    },
    create() {
      const w = builder.watcher();
      return new Promise((resolve, reject) => {
        w.once('connected', () => resolve(w));
        w.once('error', reject);
      });
    },
  };
  return { builder: abortableWatch(builder as unknown as WatchBuilder), watchers };
}

describe('abortableWatch', () => {
  it('builds no watcher for an aborted signal', async () => {
    const { builder, watchers } = fakeBuilder();
    await expect(builder.options({ signal: aborted() }).create()).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(watchers).toHaveLength(0);
  });

  it('rejects a pending create() and cancels its watcher on abort', async () => {
    const { builder, watchers } = fakeBuilder();
    const ac = new AbortController();
    const creating = builder.options({ signal: ac.signal }).create();
    ac.abort();
    await expect(creating).rejects.toMatchObject({ name: 'AbortError' });
    expect(watchers[0].cancel).toHaveBeenCalledTimes(1);
  });

  it('cancels a created watcher on abort, and leaves no listener once it ended', async () => {
    const { builder, watchers } = fakeBuilder();
    const ac = new AbortController();
    const creating = builder.options({ signal: ac.signal }).create();
    watchers[0].emit('connected');
    await creating;
    ac.abort();
    expect(watchers[0].cancel).toHaveBeenCalledTimes(1);

    const ac2 = new AbortController();
    const creating2 = builder.options({ signal: ac2.signal }).create();
    watchers[1].emit('connected');
    await creating2;
    watchers[1].emit('end'); // cancelled by its owner
    ac2.abort();
    expect(watchers[1].cancel).not.toHaveBeenCalled();
  });

  it('without a signal is etcd3’s create()', async () => {
    const { builder, watchers } = fakeBuilder();
    const creating = builder.create();
    watchers[0].emit('connected');
    await expect(creating).resolves.toBe(watchers[0]);
  });
});

describe('signalForGrantOnly', () => {
  it('drops the signal from the options later calls (revoke) reuse', () => {
    const signal = new AbortController().signal;
    const lease = { defaultOptions: { signal, deadline: 5 } } as unknown as Lease;
    signalForGrantOnly(lease);
    expect((lease as any).defaultOptions).toEqual({ deadline: 5 });
  });
});

describe('abortableLock', () => {
  function fakeLock(acquire: () => Promise<unknown>) {
    const inner = vi.fn(acquire);
    const lock = {
      callOptions: undefined as undefined | { signal?: AbortSignal },
      lease: { revoke: vi.fn(() => Promise.resolve()) },
      acquire: inner as (...args: unknown[]) => Promise<unknown>,
      release: vi.fn(function (this: { callOptions?: { signal?: AbortSignal } }) {
        return Promise.resolve();
      }),
      options(o: { signal?: AbortSignal }) {
        lock.callOptions = o;
        return lock;
      },
    };
    return { lock, inner, wrapped: abortableLock(lock as unknown as Lock) };
  }

  it('sends nothing for an aborted signal', async () => {
    const { lock, inner, wrapped } = fakeLock(() => Promise.resolve());
    lock.options({ signal: aborted() });
    await expect(wrapped.acquire()).rejects.toMatchObject({ name: 'AbortError' });
    expect(inner).not.toHaveBeenCalled();
  });

  it('rejects at once on abort; releases the lock if acquire() then succeeds, without the signal', async () => {
    let finish!: () => void;
    const { lock, wrapped } = fakeLock(() => new Promise<void>(r => (finish = r)));
    const ac = new AbortController();
    lock.options({ signal: ac.signal });
    const acquiring = wrapped.acquire();
    ac.abort();
    await expect(acquiring).rejects.toMatchObject({ name: 'AbortError' });
    expect(lock.release).not.toHaveBeenCalled(); // acquire() still running
    finish();
    await vi.waitFor(() => expect(lock.release).toHaveBeenCalledTimes(1));
    expect(lock.callOptions?.signal).toBeUndefined();
  });

  it('revokes the lease if acquire() then fails', async () => {
    let fail!: (e: Error) => void;
    const { lock, wrapped } = fakeLock(() => new Promise<void>((_, r) => (fail = r)));
    const ac = new AbortController();
    lock.options({ signal: ac.signal });
    const acquiring = wrapped.acquire();
    ac.abort();
    await expect(acquiring).rejects.toMatchObject({ name: 'AbortError' });
    fail(new Error('txn refused: aborted'));
    await vi.waitFor(() => expect(lock.lease.revoke).toHaveBeenCalledTimes(1));
    expect(lock.release).not.toHaveBeenCalled();
  });
});

describe('abortableElection', () => {
  /** An Election whose campaign() records the lease options its campaign was granted with. */
  function fakeElection() {
    const grants: Array<object | undefined> = [];
    const campaigns: Array<EventEmitter & { resign: ReturnType<typeof vi.fn> }> = [];
    const namespace = {
      lease: (_ttl: number, options?: object) => {
        grants.push(options);
        return { defaultOptions: { ...options } };
      },
    };
    const election = {
      namespace,
      campaign(_value: string) {
        namespace.lease(60); // as etcd3's Campaign constructor does
        const c = Object.assign(new EventEmitter(), { resign: vi.fn(() => Promise.resolve()) });
        campaigns.push(c);
        return c;
      },
    };
    return {
      election: abortableElection(election as unknown as Election),
      grants,
      campaigns,
      namespace,
    };
  }

  it('grants the campaign lease with the signal (an aborted one is never sent), and only that one', () => {
    const { election, grants, namespace } = fakeElection();
    const lease = namespace.lease;
    const signal = new AbortController().signal;
    election.campaign('me', { signal });
    expect(grants).toEqual([{ signal }]);
    expect(namespace.lease).toBe(lease); // restored
  });

  it('an abort before elected resigns and emits one AbortError, asynchronously', async () => {
    const { election, campaigns } = fakeElection();
    const c = election.campaign('me', { signal: aborted() });
    const errors: Error[] = [];
    c.on('error', e => errors.push(e));
    expect(errors).toHaveLength(0); // not before the caller could listen
    c.emit('error', new Error('lease grant aborted')); // the pool's refusal: dropped
    await new Promise(r => process.nextTick(r));
    expect(errors.map(e => e.name)).toEqual(['AbortError']);
    expect(campaigns[0].resign).toHaveBeenCalledTimes(1);
  });

  it('an abort after elected changes nothing', () => {
    const { election, campaigns } = fakeElection();
    const ac = new AbortController();
    const c = election.campaign('me', { signal: ac.signal });
    c.emit('elected');
    ac.abort();
    expect(campaigns[0].resign).not.toHaveBeenCalled();
  });
});
