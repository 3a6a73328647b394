/**
 * Where an approval can be. QUEUED (waiting its turn in a single-flight session), PENDING and
 * APPROVED are live; the others are final.
 */
export const APPROVAL_STATUSES = ['QUEUED', 'PENDING', 'APPROVED', 'DENIED', 'EXPIRED', 'CANCELLED', 'INVALIDATED', 'SUPERSEDED', 'CONSUMED'] as const
export type ApprovalStatus = typeof APPROVAL_STATUSES[number]
