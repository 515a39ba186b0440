/**
 * The client's watchers: nothing it creates is retained after release (namespaces,
 * builders), watchers made through namespaces are still cancelled at close(), and
 * watch creation after (or during) close() rejects with etcd3's ClientClosedError.
 * The client points at a port nobody listens on; no watch ever connects.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { ClientClosedError, type Watcher } from 'etcd3';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { Etcd3 } from '../lib/client';
import { isAttached } from '../lib/internals/etcd3';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects garbage after the current job (WeakRef targets live until it ends). */
async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise(resolve => setImmediate(resolve));
    gc();
  }
}

/** 'settled' if `p` settles within a few turns of the event loop, else 'pending'. */
async function settlesPromptly(p: Promise<unknown>): Promise<'settled' | 'pending'> {
  let state: 'settled' | 'pending' = 'pending';
  p.then(
    () => (state = 'settled'),
    () => (state = 'settled'),
  );
  for (let i = 0; i < 5 && state === 'pending'; i++) {
    await new Promise(resolve => setImmediate(resolve));
  }
  return state;
}

const clients: Etcd3[] = [];
function client(): Etcd3 {
  const c = new Etcd3({ hosts: '127.0.0.1:1', closeTimeoutMs: 50 });
  clients.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map(c => c.close()));
});

describe('retention', () => {
  test('5,000 namespace() calls retain no namespace', async () => {
    const c = client();
    // In a function of its own: a suspended async frame may keep its last local alive.
    const refs = (() => {
      const made: WeakRef<object>[] = [];
      for (let i = 0; i < 5000; i++) {
        const ns = c.namespace(`ns${i}/`);
        ns.watch(); // a builder too, never used
        made.push(new WeakRef(ns));
      }
      return made;
    })();
    await collect();
    expect(refs.filter(r => r.deref() !== undefined).length).toBe(0);
  });

  test('a watcher made through a released namespace is still cancelled by close()', async () => {
    const c = client();
    let watcher: Watcher | undefined;
    (() => {
      watcher = c.namespace('deep/').namespace('er/').watch().key('k').watcher();
    })();
    await collect();
    expect(isAttached(watcher!)).toBe(true);
    const cancel = vi.spyOn(watcher!, 'cancel');
    await c.close();
    expect(cancel).toHaveBeenCalledTimes(1);
    expect(isAttached(watcher!)).toBe(false);
  });

  test('cancelled watchers are not retained', async () => {
    const c = client();
    const refs = await (async () => {
      const made: WeakRef<object>[] = [];
      for (let i = 0; i < 200; i++) {
        const w = c.watch().key(`k${i}`).watcher();
        made.push(new WeakRef(w));
        await w.cancel();
      }
      return made;
    })();
    await collect();
    expect(refs.filter(r => r.deref() !== undefined).length).toBe(0);
  });
});

describe('watch after close', () => {
  test('create() after close() rejects promptly with ClientClosedError (client and namespace)', async () => {
    const c = client();
    await c.close();
    for (const create of [
      () => c.watch().key('a').create(),
      () => c.namespace('n/').watch().prefix('a').create(),
    ]) {
      const p = create();
      expect(await settlesPromptly(p)).toBe('settled');
      await expect(p).rejects.toBeInstanceOf(ClientClosedError);
    }
  });

  test('create() still waiting when close() runs rejects with ClientClosedError', async () => {
    const c = client();
    const p = c.namespace('n/').watch().key('a').create();
    p.catch(() => undefined);
    expect(await settlesPromptly(p)).toBe('pending'); // nobody listens on port 1
    await c.close();
    expect(await settlesPromptly(p)).toBe('settled');
    await expect(p).rejects.toBeInstanceOf(ClientClosedError);
  });
});
