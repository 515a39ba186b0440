/**
 * OpenTelemetry spans against a real etcd, captured with the SDK's InMemorySpanExporter:
 * one CLIENT span per call with the RPC semantic-convention attributes, a hedge away
 * from a frozen member as events, ERROR status on failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../lib';
import { startEtcd, type EtcdCluster } from '../../lib/testing';
import { memoryTracing } from '../../test/tracing/in-memory-tracer';

describe('tracing against etcd', () => {
  let cluster: EtcdCluster;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 3 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('makes one span per call: names, attributes, the member that answered', async () => {
    const t = memoryTracing();
    const client = createClient({ hosts: cluster.endpoints[0], tracerProvider: t.provider });
    try {
      await client.put('traced').value('1');
      expect(await client.get('traced').string()).toBe('1');
      const lease = client.lease(5, { autoKeepAlive: false });
      await lease.grant();
      await lease.revoke();
      await client.delete().key('traced');
    } finally {
      await client.close();
    }
    const spans = t.spans();
    expect(spans.map(s => s.name)).toEqual([
      'etcdserverpb.KV/Put',
      'etcdserverpb.KV/Range',
      'etcdserverpb.Lease/LeaseGrant',
      'etcdserverpb.Lease/LeaseRevoke',
      'etcdserverpb.KV/DeleteRange',
    ]);
    const port = Number(new URL(cluster.endpoints[0]).port);
    for (const span of spans) {
      expect(span.kind).toBe(2); // CLIENT
      expect(span.attributes).toMatchObject({
        'rpc.system': 'grpc',
        'rpc.service': span.name.split('/')[0],
        'rpc.method': span.name.split('/')[1],
        'rpc.grpc.status_code': 0,
        'server.address': '127.0.0.1',
        'server.port': port,
      });
      expect(span.status.code).toBe(0);
      expect(t.events(span)).toEqual(['attempt']);
    }
  });

  it('records the move away from a frozen member (hedge) as events; the span names the member that answered', async () => {
    const t = memoryTracing();
    const client = createClient({ hosts: cluster.endpoints, tracerProvider: t.provider });
    // A follower: with the leader frozen, every linearizable read waits for an election.
    const leader = await cluster.leader();
    const frozen = cluster.members.find(m => m !== leader)!;
    try {
      await Promise.all([0, 1, 2].map(() => client.get('warm').exec())); // connect all three
      frozen.freeze();
      // Reads rotate over the members: one that starts on the frozen member is hedged.
      for (let i = 0; i < 6; i++) {
        await client.get('k').exec();
      }
    } finally {
      frozen.thaw();
      await client.close();
    }
    const reads = t.spans().slice(3);
    const frozenPort = frozen.clientPort;
    for (const span of reads) {
      expect(span.status.code).toBe(0);
      expect(span.attributes['server.port']).not.toBe(frozenPort);
    }
    // Hedged (or, without hedging, timed out and failed over): the first attempt went to
    // the frozen member, the answer came from another.
    const hedged = reads.filter(s =>
      t.events(s).some(e => e === 'hedge' || e === 'attempt.failed'),
    );
    expect(hedged.length).toBeGreaterThan(0);
    expect(hedged[0].events[0].attributes?.['server.port']).toBe(frozenPort);
    console.log(
      `[measure] ${hedged.length}/${reads.length} reads moved away from the frozen member; events: ${t.events(hedged[0]).join(', ')}`,
    );
  });

  it('marks a failed call ERROR with its gRPC code', async () => {
    const t = memoryTracing();
    const client = createClient({ hosts: cluster.endpoints[0], tracerProvider: t.provider });
    try {
      // Revoking a lease that does not exist: etcd answers NOT_FOUND.
      await expect(client.lease(5, { autoKeepAlive: false }).revoke()).resolves.toBeUndefined();
      const err = await client
        .put('k')
        .value('v')
        .lease('123456789')
        .exec()
        .catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
    } finally {
      await client.close();
    }
    const put = t.spans().find(s => s.name === 'etcdserverpb.KV/Put')!;
    expect(put.status.code).toBe(2); // ERROR
    expect(put.attributes['rpc.grpc.status_code']).toBe(5); // NOT_FOUND: lease not found
    expect(put.attributes['error.type']).toBe('EtcdLeaseInvalidError');
  });
});
