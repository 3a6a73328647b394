/** Where an approval can be. PENDING and APPROVED are live; the others are final. */
export const APPROVAL_STATUSES = ['PENDING', 'APPROVED', 'DENIED', 'EXPIRED', 'CANCELLED', 'INVALIDATED', 'SUPERSEDED', 'CONSUMED'] as const
export type ApprovalStatus = typeof APPROVAL_STATUSES[number]
