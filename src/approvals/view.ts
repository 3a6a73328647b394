/** How approvals and grants are shown: in /check answers, to reviewers, and in audit records. */
import type { ApprovalStatus } from '../domain/approval-status.js'
import type { ApprovalRow, VoteRow } from '../store/approvals.js'
import type { GrantRow } from '../store/grants.js'

function iso (d: Date | string | null): string | null {
  return d === null ? null : new Date(d).toISOString()
}

/** An approval's state as a /check answer and its decision record carry it. */
export interface ApprovalSummary {
  approval_id: string
  status: ApprovalStatus
  expires_at: string | null
  approvals_required: number
  approvals_received: number
  approved_at: string | null
  dispatch_by: string | null
  /** QUEUED only: the job in front of reviewers that this one waits behind in its session. */
  queued_behind?: string
}

/** The state a /check answer carries; a queued approval has no clock until its turn. */
export function approvalSummary (a: ApprovalRow, behind?: string): ApprovalSummary {
  return {
    approval_id: a.approval_id,
    status: a.status,
    expires_at: a.status === 'QUEUED' ? null : iso(a.expires_at),
    approvals_required: a.approvals_required,
    approvals_received: a.approvals_received,
    approved_at: iso(a.approved_at),
    dispatch_by: iso(a.dispatch_by),
    ...(a.status === 'QUEUED' && behind !== undefined ? { queued_behind: behind } : {})
  }
}

/** An approval in full (the `Approval` schema): its state, and everything else by name. */
export type ApprovalView = ApprovalSummary & Record<string, unknown>

/** Everything a reviewer needs to decide: the job exactly as hashed, its evidence, the rule and the votes so far. */
export function approvalView (a: ApprovalRow, votes: readonly VoteRow[], behind?: string): ApprovalView {
  const job = JSON.parse(a.job) as Record<string, unknown>
  return {
    ...approvalSummary(a, behind),
    tenant_id: a.tenant_id,
    job_id: a.job_id,
    job_hash: a.job_hash,
    job,
    job_canonical: a.job,
    evidence: job.evidence ?? null,
    topic: a.topic,
    trace_id: a.trace_id,
    rule_id: a.rule_id,
    reason: a.reason,
    constraints: a.constraints ?? undefined,
    policy_snapshot: a.policy_snapshot,
    requested_by: a.requested_by,
    approver_roles: a.approver_roles,
    dispatch_window_sec: a.dispatch_window_sec,
    session_id: a.session_id,
    single_flight: a.single_flight,
    created_at: iso(a.created_at),
    resolved_at: iso(a.resolved_at),
    resolution: a.resolution,
    votes: votes.map((v) => ({ principal_id: v.principal_id, key_id: v.key_id, vote: v.vote, note: v.note, at: iso(v.at) }))
  }
}

export function grantView (g: GrantRow): Record<string, unknown> {
  return {
    grant_id: g.grant_id,
    tenant_id: g.tenant_id,
    session_id: g.session_id,
    match: g.match,
    note: g.note,
    created_by: g.created_by,
    created_at: iso(g.created_at),
    expires_at: iso(g.expires_at),
    max_uses: g.max_uses,
    uses: g.uses,
    revoked_at: iso(g.revoked_at),
    revoked_by: g.revoked_by
  }
}
