import { describe, expect, test } from 'vitest';
import { isSafeCall, retryWrites } from '../../lib/pool/call-kind';

const range = { request_range: { key: Buffer.from('k') } };
const put = { request_put: { key: Buffer.from('k'), value: Buffer.from('v') } };
const del = { request_delete_range: { key: Buffer.from('k') } };
const nested = { request_txn: { success: [put] } };

describe('isSafeCall', () => {
  test.each([
    ['KV', 'range'],
    ['Lease', 'leaseRevoke'],
    ['Lease', 'leaseTimeToLive'],
    ['Lease', 'leaseLeases'],
    ['Cluster', 'memberList'],
    ['Maintenance', 'status'],
    ['Auth', 'authenticate'],
    ['Auth', 'userGet'],
  ])('%s.%s is a read: safe to retry', (service, method) => {
    expect(isSafeCall(service, method, {}, undefined)).toBe(true);
  });

  test.each([
    ['KV', 'put'],
    ['KV', 'deleteRange'],
    ['KV', 'compact'],
    ['Lease', 'leaseGrant'],
    ['Cluster', 'memberAdd'],
    ['Cluster', 'memberRemove'],
    ['Auth', 'userAdd'],
    ['Auth', 'authEnable'],
    ['Maintenance', 'defragment'],
    ['Maintenance', 'moveLeader'],
  ])('%s.%s is a write: not retried once sent', (service, method) => {
    expect(isSafeCall(service, method, {}, undefined)).toBe(false);
  });

  test('a txn is a write unless every op in both branches is a range', () => {
    expect(
      isSafeCall('KV', 'txn', { compare: [], success: [range], failure: [range, range] }, {}),
    ).toBe(true);
    expect(isSafeCall('KV', 'txn', { success: [range], failure: [put] }, {})).toBe(false);
    expect(isSafeCall('KV', 'txn', { success: [del] }, {})).toBe(false);
    expect(isSafeCall('KV', 'txn', { success: [range, nested] }, {})).toBe(false);
  });

  test('an op that carries a range next to a write is not read-only', () => {
    expect(isSafeCall('KV', 'txn', { success: [{ ...range, ...put }] }, {})).toBe(false);
  });

  test('an empty txn (compare only) changes nothing', () => {
    expect(isSafeCall('KV', 'txn', { compare: [{ key: Buffer.from('k') }] }, {})).toBe(true);
  });

  test('a method with the name of a read on another service is not safe', () => {
    expect(isSafeCall('Lease', 'range', {}, {})).toBe(false);
    expect(isSafeCall('KV', 'status', {}, {})).toBe(false);
  });
});

describe('retryWrites', () => {
  test('opts a write in, per call', () => {
    expect(isSafeCall('KV', 'put', {}, retryWrites())).toBe(true);
    expect(isSafeCall('KV', 'txn', { success: [put] }, retryWrites({ deadline: 5 }))).toBe(true);
    expect(isSafeCall('KV', 'put', {}, {})).toBe(false);
  });

  test('keeps the given options and does not modify them', () => {
    const given = { deadline: 123 };
    const marked = retryWrites(given);
    expect(marked).not.toBe(given);
    expect(marked).toMatchObject({ deadline: 123 });
    expect(isSafeCall('KV', 'put', {}, given)).toBe(false);
  });

  test('the mark survives an object spread (etcd3 merges call options that way)', () => {
    expect(isSafeCall('KV', 'put', {}, { ...retryWrites(), deadline: 1 })).toBe(true);
  });
});
