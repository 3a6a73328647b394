/**
 * Single-flight sessions: a rule's `approval: {single_flight: session}` puts the approvals of a
 * session in line, so reviewers answer one clear question at a time. The one in front is
 * PENDING; the ones behind wait QUEUED (unseen in the queue, not notified, without a clock) and
 * the oldest takes its turn when the one in front leaves PENDING, however it leaves: approved,
 * denied, expired, cancelled, invalidated or superseded. Every step runs in a transaction of the
 * tenant's log, whose lock serializes it with every other change on every instance: the line
 * moves exactly once.
 */
import type { AuditEntry } from '../audit/chain.js'
import { changeApproval, lockLine, type ApprovalRow } from '../store/approvals.js'
import type { Queryable } from '../store/db.js'
import { approvalEntry } from './records.js'

/** The actor of a turn in line: nobody's hand, the one in front leaving. */
export const LINE_ACTOR = Object.freeze({ system: 'arbiter-single-flight' })

/** Whether a new approval for this job joins a line, and the job in front of it if it must wait. */
export async function placeInLine (tx: Queryable, tenantId: string, sessionId: string | undefined, singleFlight: boolean): Promise<{ behind?: string }> {
  if (!singleFlight || sessionId === undefined) return {}
  const line = await lockLine(tx, tenantId, sessionId)
  return line.length === 0 ? {} : { behind: line[0].job_id }
}

/**
 * After `before` (as it was) has left PENDING: the oldest approval queued behind it in its
 * session, if any, takes its turn. It becomes PENDING with its clock starting now, and its
 * `approval.requested` record is written then (what reviewers and notifications see).
 */
export async function nextInLine (tx: Queryable, before: ApprovalRow, now: Date): Promise<AuditEntry[]> {
  if (before.status !== 'PENDING' || !before.single_flight || before.session_id === null) return []
  const line = await lockLine(tx, before.tenant_id, before.session_id)
  // Someone else is in front (this one was not, or a turn was already given): the line stands.
  if (line.length === 0 || line[0].status === 'PENDING') return []
  const next = line[0]
  const ttlSec = next.ttl_sec ?? Math.round((new Date(next.expires_at).getTime() - new Date(next.created_at).getTime()) / 1000)
  const after = await changeApproval(tx, next.approval_id, 'QUEUED', { status: 'PENDING', expires_at: new Date(now.getTime() + ttlSec * 1000) }) as ApprovalRow
  return [approvalEntry('approval.requested', after, LINE_ACTOR, now, {
    decision_id: after.requested_decision_id,
    rule_id: after.rule_id,
    reason: after.reason,
    approvals_required: after.approvals_required,
    approver_roles: after.approver_roles,
    expires_at: new Date(after.expires_at).toISOString(),
    dispatch_window_sec: after.dispatch_window_sec,
    policy_snapshot: after.policy_snapshot,
    queued_at: new Date(after.created_at).toISOString(),
    after_job: before.job_id
  })]
}
