/** Leases, locks and elections that know when they can no longer be sure to own. */
export { OwnedLease } from './owned-lease';
export { OwnedLock } from './owned-lock';
export { OwnedElection, OwnedCampaign, type CampaignOptions } from './owned-election';
export { OwnedElectionObserver, type ElectionLeader, type ElectionGap } from './election-observer';
export { OwnershipEndedError, type OwnershipEnd } from './ownership-ended-error';
export { safetyMarginMs, MIN_SAFETY_MARGIN_MS, SAFETY_MARGIN_RATIO } from './expiry-bound';
export { namespaceParts } from './etcd3-lease-hooks';
export { heldLeases, ownNamespace, type LeaseFactory } from './owned-namespace';
