/**
 * A write that was sent and then failed without telling whether etcd applied it
 * fails with ONE documented error, `WriteOutcomeUnknownError` (a
 * `GRPCUnavailableError`), and is not resent; one that ran past its deadline after
 * it was sent is a `GRPCDeadlineExceededError` with `mayHaveBeenApplied: true`.
 * Our `Etcd3` against real grpc-js servers serving etcd's proto.
 */
import { GRPCDeadlineExceededError, GRPCUnavailableError, isRecoverableError } from 'etcd3';
import { describe, expect, test } from 'vitest';
import {
  ResilientEtcdError,
  WriteOutcomeUnknownError,
  isWriteOutcomeUnknown,
} from '../../lib/errors';
import { HANG, unavailable } from '../fakes/fake-etcd';
import { ready, withClients } from '../fakes/client-harness';
import { advance, fakeClock, settled, timed, track, waitUntil } from '../fakes/pool-harness';

const { fakes, client } = withClients();

function expectOutcomeUnknown(error: any): void {
  expect(error).toBeInstanceOf(WriteOutcomeUnknownError);
  expect(error).toBeInstanceOf(GRPCUnavailableError);
  expect(error).toBeInstanceOf(ResilientEtcdError);
  expect(isRecoverableError(error)).toBe(true);
  expect(isWriteOutcomeUnknown(error)).toBe(true);
  expect(error.code).toBe('ERESILIENT_OUTCOME_UNKNOWN');
  expect(error.mayHaveBeenApplied).toBe(true);
  expect(error.method).toBe('KV.put');
  expect(error.cause).toBeInstanceOf(Error);
}

describe('a write whose outcome is unknown', () => {
  test('a rebuild another call triggered leaves a sent write running: it is not cancelled (finding 11)', async () => {
    const [a] = await fakes(1);
    let answerPut: () => void = () => undefined;
    a.on('KV.put', () => new Promise(resolve => (answerPut = () => resolve({ ok: {} }))));
    let ranges = 0;
    // The first read finds a broken transport: the endpoint's channels are rebuilt.
    a.on('KV.range', () => (++ranges === 1 ? unavailable('Connection dropped') : { ok: {} }));
    const c = client({ hosts: a.url });
    const rebuilds: string[] = [];
    c.onRebuild(e => rebuilds.push(e.reason));
    await ready(c);
    const put = timed(() => c.put('k').value('v').exec());
    await waitUntil(() => a.count('KV.put') === 1, 'the put reached the server');
    await c.get('k').string();
    expect(rebuilds).toHaveLength(1);
    // Once the server answers, the write succeeds on the connection it was sent on.
    answerPut();
    const { error } = await put;
    expect(error).toBeUndefined();
    expect(a.count('KV.put')).toBe(1);
  });

  test('sent, then the connection was reset mid-flight', async () => {
    const [a, b] = await fakes(2);
    a.on('KV.put', () => HANG);
    b.on('KV.put', () => HANG);
    const c = client({ hosts: [a.url, b.url] });
    await ready(c);
    const put = timed(() => c.put('k').value('v').exec());
    await waitUntil(() => a.pending + b.pending === 1, 'the put reached a server');
    await (a.pending === 1 ? a : b).close();
    const { error } = await put;
    expectOutcomeUnknown(error);
    expect(a.count('KV.put') + b.count('KV.put')).toBe(1);
  });

  test('a server answering UNAVAILABLE to a sent write', async () => {
    const [a] = await fakes(1);
    a.on('KV.put', () => unavailable('etcdserver: request timed out'));
    const c = client({ hosts: a.url });
    const { error } = await timed(() => c.put('k').value('v').exec());
    expectOutcomeUnknown(error);
    expect(error.message).toMatch(/request timed out/);
    expect(a.count('KV.put')).toBe(1);
  });

  test('sent, then its deadline passed: GRPCDeadlineExceededError, mayHaveBeenApplied', async () => {
    const [a] = await fakes(1);
    a.on('KV.put', () => HANG);
    const c = client({ hosts: a.url });
    await ready(c);
    // On a fake clock the deadline passes only once the put was sent, however slow the
    // machine: the put reaches the server first.
    fakeClock();
    const put = track(
      c
        .put('k')
        .value('v')
        .options({ deadline: Date.now() + 300 })
        .exec(),
    );
    await waitUntil(() => a.count('KV.put') === 1, 'the put reached the server');
    await advance(300);
    const { error } = await settled(put, 'the put failed at its deadline');
    expect(error).toBeInstanceOf(GRPCDeadlineExceededError);
    expect(error.mayHaveBeenApplied).toBe(true);
    expect(isWriteOutcomeUnknown(error)).toBe(true);
    expect(a.count('KV.put')).toBe(1);
  });

  test('a read that fails the same ways is not flagged', async () => {
    const [a] = await fakes(1);
    a.on('KV.range', () => unavailable('etcdserver: request timed out'));
    const c = client({ hosts: a.url, retry: { maxAttempts: 0 } });
    const { error } = await timed(() => c.get('k').string());
    expect(error).toBeInstanceOf(GRPCUnavailableError);
    expect(error).not.toBeInstanceOf(WriteOutcomeUnknownError);
    expect(isWriteOutcomeUnknown(error)).toBe(false);
  });
});
