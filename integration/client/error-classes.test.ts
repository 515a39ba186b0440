/**
 * Drop-in error classes against real etcd: when no endpoint can be reached, calls and
 * a lease's `lost` event give a `GRPCUnavailableError` (`isRecoverableError()` true);
 * a deadline already past gives a `GRPCDeadlineExceededError`. Our codes and the
 * `ResilientEtcdError` brand stay on top.
 */
import { GRPCDeadlineExceededError, GRPCUnavailableError, isRecoverableError } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeadlineExceededError,
  Etcd3,
  NoEndpointAvailableError,
  ResilientEtcdError,
  isResilientEtcdError,
} from '../../lib';
import { startEtcd, type EtcdCluster } from '../../lib/testing';
import { freePort } from '../../lib/testing/ports';
import { timed } from './helpers';

describe('every endpoint refuses connections', () => {
  let client: Etcd3;

  beforeAll(async () => {
    const ports = await Promise.all([freePort(), freePort()]);
    client = new Etcd3({
      hosts: ports.map(p => `http://127.0.0.1:${p}`),
      callTimeoutMs: 1500,
      connectTimeoutMs: 500,
    });
  });
  afterAll(() => client?.close());

  it.each([
    ['get', () => client.get('k').string()],
    ['put', () => client.put('k').value('v').exec()],
  ])('%s fails with a recoverable GRPCUnavailableError that is also ours', async (_n, call) => {
    const { error } = await timed(call as () => Promise<unknown>);
    expect(error).toBeInstanceOf(GRPCUnavailableError);
    expect(isRecoverableError(error as Error)).toBe(true);
    expect(error).toBeInstanceOf(NoEndpointAvailableError);
    expect(error).toBeInstanceOf(ResilientEtcdError);
    expect(isResilientEtcdError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'ERESILIENT_NO_ENDPOINT', mayHaveBeenApplied: false });
  });

  it("a lease's lost event carries a GRPCUnavailableError", async () => {
    const lease = client.lease(10);
    const lost = new Promise<unknown>(resolve => lease.on('lost', resolve));
    const grant = timed(() => lease.grant());
    const err = await lost;
    expect(err).toBeInstanceOf(GRPCUnavailableError);
    expect(isRecoverableError(err as Error)).toBe(true);
    expect((await grant).error).toBeInstanceOf(GRPCUnavailableError);
  });
});

describe('a deadline already past, against a live etcd', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    client = new Etcd3({ hosts: cluster.endpoints });
    await client.put('k').value('v');
  });
  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
  });

  it.each([
    [
      'get',
      () =>
        client
          .get('k')
          .options({ deadline: new Date(0) })
          .string(),
    ],
    [
      'put',
      () =>
        client
          .put('k')
          .value('w')
          .options({ deadline: new Date(0) })
          .exec(),
    ],
  ])('%s fails with GRPCDeadlineExceededError, sends nothing', async (_n, call) => {
    const { error } = await timed(call as () => Promise<unknown>);
    expect(error).toBeInstanceOf(GRPCDeadlineExceededError);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(error).toMatchObject({ code: 'ERESILIENT_DEADLINE', sent: false });
    expect(await client.get('k').string()).toBe('v');
  });
});
