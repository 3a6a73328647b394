/** The audit records of approval transitions, and the one transition every path shares. */
import type { AuditEntry } from '../audit/chain.js'
import { changeApproval, type ApprovalRow } from '../store/approvals.js'
import type { Queryable } from '../store/db.js'

/** The actor of what happens by the clock rather than by anyone's hand. */
export const CLOCK_ACTOR = Object.freeze({ system: 'arbiter-clock' })

/** Ends a live approval whose clock ran out. */
export async function expire (tx: Queryable, a: ApprovalRow, now: Date): Promise<ApprovalRow> {
  return await changeApproval(tx, a.approval_id, a.status, { status: 'EXPIRED', resolved_at: now, resolution: { reason: 'approval expired', was: a.status } }) as ApprovalRow
}

/** A record of an approval's transition, under the trace of the job it was requested for. */
export function approvalEntry (type: AuditEntry['type'], a: ApprovalRow, actor: AuditEntry['actor'], at: Date, body: Record<string, unknown>): AuditEntry {
  return {
    type,
    tenant_id: a.tenant_id,
    trace_id: a.trace_id,
    job_id: a.job_id,
    at: at.toISOString(),
    actor,
    body: { approval_id: a.approval_id, job_hash: a.job_hash, approval_state: a.status, ...body }
  }
}
