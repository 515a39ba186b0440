import { ResilientEtcdError } from '../errors';

/** How ownership ended without being lost: the holder gave it up, or its client closed. */
export type OwnershipEnd = 'revoked' | 'released' | 'resigned' | 'closed';

/**
 * The reason of an ownership `signal` aborted because the holder ended it on purpose
 * (`revoke()`, `release()`, `resign()`, client `close()`). A loss has etcd3's error
 * instead (`EtcdLeaseInvalidError`, ...).
 */
export class OwnershipEndedError extends ResilientEtcdError {
  public override readonly code: string = 'ERESILIENT_OWNERSHIP_ENDED';
  constructor(public readonly end: OwnershipEnd) {
    super(`ownership ended: ${end}`);
  }
}
