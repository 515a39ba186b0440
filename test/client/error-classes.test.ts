/**
 * Our errors are instances of the etcd3 classes a user catches for the same
 * situation, and keep our codes, names, fields and `ResilientEtcdError` brand.
 */
import {
  GRPCCancelledError,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  isRecoverableError,
} from 'etcd3';
import { describe, expect, test } from 'vitest';
import {
  DeadlineExceededError,
  InvalidOptionError,
  NoEndpointAvailableError,
  ResilientEtcdError,
  WriteOutcomeUnknownError,
  isResilientEtcdError,
  isWriteOutcomeUnknown,
} from '../../lib/errors';

describe('error classes', () => {
  test('NoEndpointAvailableError is a recoverable GRPCUnavailableError and ours', () => {
    const cause = new Error('refused');
    const err = new NoEndpointAvailableError('no endpoint', cause);
    expect(err).toBeInstanceOf(GRPCUnavailableError);
    expect(isRecoverableError(err)).toBe(true);
    expect(err).toBeInstanceOf(NoEndpointAvailableError);
    expect(err).toBeInstanceOf(ResilientEtcdError);
    expect(isResilientEtcdError(err)).toBe(true);
    expect(err).not.toBeInstanceOf(DeadlineExceededError);
    expect(err).toMatchObject({
      name: 'NoEndpointAvailableError',
      code: 'ERESILIENT_NO_ENDPOINT',
      message: 'no endpoint',
      lastCause: cause,
      cause,
      mayHaveBeenApplied: false,
    });
    expect(isWriteOutcomeUnknown(err)).toBe(false);
    expect(err.stack).toContain('NoEndpointAvailableError');
  });

  test('DeadlineExceededError is a GRPCDeadlineExceededError and ours', () => {
    const err = new DeadlineExceededError('put', 100, true);
    expect(err).toBeInstanceOf(GRPCDeadlineExceededError);
    expect(isRecoverableError(err)).toBe(true);
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(err).toBeInstanceOf(ResilientEtcdError);
    expect(err).toMatchObject({
      name: 'DeadlineExceededError',
      code: 'ERESILIENT_DEADLINE',
      method: 'put',
      deadlineMs: 100,
      sent: true,
      mayHaveBeenApplied: true,
    });
    expect(isWriteOutcomeUnknown(err)).toBe(true);
    expect(isWriteOutcomeUnknown(new DeadlineExceededError('put', 100, false))).toBe(false);
  });

  test('WriteOutcomeUnknownError is a GRPCUnavailableError and ours, says it may have been applied', () => {
    const cause = new GRPCCancelledError('Cancelled on client');
    const err = new WriteOutcomeUnknownError('KV.put', cause);
    expect(err).toBeInstanceOf(GRPCUnavailableError);
    expect(err).not.toBeInstanceOf(NoEndpointAvailableError);
    expect(err).toBeInstanceOf(ResilientEtcdError);
    expect(err).toMatchObject({
      name: 'WriteOutcomeUnknownError',
      code: 'ERESILIENT_OUTCOME_UNKNOWN',
      mayHaveBeenApplied: true,
      method: 'KV.put',
      cause,
    });
    expect(err.message).toMatch(/may have been applied/);
    expect(isWriteOutcomeUnknown(err)).toBe(true);
  });

  test('plain etcd3 errors are not ours', () => {
    expect(new GRPCUnavailableError('x')).not.toBeInstanceOf(NoEndpointAvailableError);
    expect(new GRPCUnavailableError('x')).not.toBeInstanceOf(ResilientEtcdError);
    expect(isWriteOutcomeUnknown(new GRPCUnavailableError('x'))).toBe(false);
    expect(new InvalidOptionError('a', 'b')).not.toBeInstanceOf(GRPCUnavailableError);
    expect(new InvalidOptionError('a', 'b')).toBeInstanceOf(ResilientEtcdError);
  });
});
