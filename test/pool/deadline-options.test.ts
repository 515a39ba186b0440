/**
 * A deadline that is not a valid time (`'soon'`, `NaN`, an invalid `Date`), in a
 * call's options or in `defaultCallOptions`, is rejected with `InvalidOptionError`
 * naming the field, before anything is sent; it never reaches grpc-js (which throws
 * it uncaught from deep inside a call). Real grpc-js servers serving etcd's proto.
 */
import { describe, expect, test } from 'vitest';
import { createClient } from '../../lib/client';
import { InvalidOptionError } from '../../lib/errors';
import { collectUncaught, withClients } from '../fakes/client-harness';
import { timed, waitUntil } from '../fakes/pool-harness';

const { fakes, client } = withClients();

const uncaught = collectUncaught();

const BAD: Array<[string, unknown]> = [
  ['a string', 'soon'],
  ['NaN', NaN],
  ['an invalid Date', new Date('nope')],
  ['-Infinity', -Infinity],
];

describe('a bad deadline in call options', () => {
  test.each(BAD)('%s: InvalidOptionError naming the field, nothing sent', async (_n, deadline) => {
    const [a] = await fakes(1);
    const c = client({ hosts: a.url });
    const put = await timed(() =>
      c
        .put('k')
        .value('v')
        .options({ deadline } as any)
        .exec(),
    );
    expect(put.error).toBeInstanceOf(InvalidOptionError);
    expect(put.error.option).toBe('callOptions.deadline');
    const get = await timed(() =>
      c
        .get('k')
        .options({ deadline } as any)
        .string(),
    );
    expect(get.error).toBeInstanceOf(InvalidOptionError);
    // A good call afterwards is a barrier: had either bad call been sent, it would have
    // reached the server before this one (no real-time sleep to wait for it).
    await c.get('barrier').string();
    expect(a.received.map(r => r.method)).toEqual(['KV.range']);
    expect(uncaught).toEqual([]);
  });
});

describe('a bad deadline in defaultCallOptions', () => {
  test.each(BAD)('object form, %s: rejected at construction', async (_n, deadline) => {
    const [a] = await fakes(1);
    expect(() => createClient({ hosts: a.url, defaultCallOptions: { deadline } as any })).toThrow(
      InvalidOptionError,
    );
  });

  test.each(BAD)('function form, %s: the call rejects, nothing sent', async (_n, deadline) => {
    const [a] = await fakes(1);
    let bad = true;
    const c = client({
      hosts: a.url,
      defaultCallOptions: () => (bad ? ({ deadline } as any) : {}),
    });
    const { error } = await timed(() => c.put('k').value('v').exec());
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error.option).toBe('defaultCallOptions.deadline');
    // A barrier, as above: a call without a deadline (the function allows it), sent after.
    bad = false;
    await c.get('barrier').string();
    expect(a.received.map(r => r.method)).toEqual(['KV.range']);
    expect(uncaught).toEqual([]);
  });

  test('function form, only for streams: the watch reports it, the process does not crash', async () => {
    const [a] = await fakes(1);
    const c = client({
      hosts: a.url,
      defaultCallOptions: ctx => (ctx.isStream ? ({ deadline: 'soon' } as any) : {}),
    });
    await waitUntil(() => c.health().healthy, 'healthy');
    const errors: unknown[] = [];
    const watcher = c.watch().key('k').watcher();
    watcher.on('disconnected', err => errors.push(err));
    watcher.on('error', err => errors.push(err));
    await waitUntil(() => errors.length > 0, 'the watch reports an error');
    expect(errors[0]).toBeInstanceOf(InvalidOptionError);
    expect((errors[0] as InvalidOptionError).option).toBe('defaultCallOptions.deadline');
    expect(uncaught).toEqual([]);
    await c.put('k').value('v'); // unary calls are unaffected
  });

  test('valid deadlines (Date, number, Infinity) still work', async () => {
    const [a] = await fakes(1);
    const c = client({ hosts: a.url, defaultCallOptions: { deadline: Infinity } });
    await c
      .put('k')
      .value('v')
      .options({ deadline: Date.now() + 2000 });
    await c
      .put('k')
      .value('v')
      .options({ deadline: new Date(Date.now() + 2000) });
    expect(await c.get('k').string()).toBe('v');
    expect(a.count('KV.put')).toBe(2);
  });
});
