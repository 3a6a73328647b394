/**
 * What a /check does when the policy asks for approval (or denies a job that has one), inside
 * the tenant log's transaction: find the job's latest approval, move it on, and say what the
 * decision is. The decision record comes last among the records it returns.
 */
import stableStringify from 'fast-json-stable-stringify'
import type { AuditEntry } from '../audit/chain.js'
import { actorOf, speaksForJob, type Principal } from '../auth/principal.js'
import type { IdGenerator } from '../clock.js'
import type { ApprovalRequirement, Evaluation, Job } from '../policy/types.js'
import { changeApproval, countPending, insertApproval, lockLatestApproval, type ApprovalRow } from '../store/approvals.js'
import type { Queryable } from '../store/db.js'
import { lockUsableGrants, useGrant } from '../store/grants.js'
import { grantApplies, isLive, recheck } from './lifecycle.js'
import { approvalEntry, CLOCK_ACTOR, expire } from './records.js'
import { approvalSummary } from './view.js'

export interface CheckContext {
  job: Job
  jobHash: string
  traceId: string
  evaluation: Evaluation
  policySnapshot: string
  requester: Principal
  now: Date
  /** The decision record's body as the policy alone decided it (with its decision_id). */
  base: Record<string, unknown> & { decision_id: string }
  decisionEntry: (body: Record<string, unknown>) => AuditEntry
  maxPending: number
  ids: Pick<IdGenerator, 'approvalId'>
}

type Outcome = { entries: AuditEntry[], result: Record<string, unknown> }

export async function decideWithApproval (tx: Queryable, c: CheckContext): Promise<Outcome> {
  const entries: AuditEntry[] = []
  const finish = (body: Record<string, unknown>): Outcome => {
    entries.push(c.decisionEntry(body))
    return { entries, result: body }
  }
  const latest = await lockLatestApproval(tx, c.job.tenant_id, c.job.job_id)
  const ev = c.evaluation
  // The job id has a live approval for an agent this key may not speak for: not this key's to
  // supersede or invalidate. Denied, and left as it is.
  if (latest !== undefined && isLive(latest.status) && !speaksForJob(c.requester, latest.agent_principal)) {
    const { constraints: _constraints, ...rest } = c.base
    return finish({ ...rest, decision: 'DENY', reason: `job ${c.job.job_id} has a live approval for another agent` })
  }
  if (ev.decision !== 'REQUIRE_APPROVAL' || ev.approval === undefined) {
    // The policy now denies the job: an approval given or pending for exactly this job no
    // longer counts. One for other content is left for that content.
    if (latest === undefined || !isLive(latest.status) || latest.job_hash !== c.jobHash) return finish(c.base)
    const after = await end(tx, latest, 'INVALIDATED', c.now, { reason: `the policy now denies the job: ${ev.reason}`, decision_id: c.base.decision_id })
    entries.push(approvalEntry('approval.invalidated', after, actorOf(c.requester), c.now, { reason: after.resolution?.reason, policy_snapshot: c.policySnapshot, rule_id: ev.rule_id }))
    return finish({ ...c.base, approval: approvalSummary(after), approval_state: after.status })
  }
  const asked = { ...c.base, policy_decision: 'REQUIRE_APPROVAL' }
  const step = recheck(latest, c.jobHash, ev.approval, c.now)
  switch (step.kind) {
    case 'pending':
      return finish({ ...asked, approval: approvalSummary(step.approval), approval_state: 'PENDING' })
    case 'expire': {
      const after = await expire(tx, step.approval, c.now)
      entries.push(approvalEntry('approval.expired', after, CLOCK_ACTOR, c.now, { noticed_by: 'check', was: step.approval.status }))
      return finish({ ...denied(asked, 'approval expired'), approval: approvalSummary(after), approval_state: after.status })
    }
    case 'consume': {
      const a = step.approval
      const after = await end(tx, a, 'CONSUMED', c.now, { ...a.resolution, consumed_by: c.base.decision_id })
      entries.push(approvalEntry('approval.consumed', after, actorOf(c.requester), c.now, { decision_id: c.base.decision_id }))
      const approvers = Array.isArray(a.resolution?.approvers) ? (a.resolution.approvers as string[]).join(', ') : 'reviewers'
      return finish({ ...allowed(asked, ev), reason: `approved by ${approvers}`, approval_ref: a.approval_id, approval: approvalSummary(after), approval_state: after.status })
    }
    case 'refused':
      return finish({ ...denied(asked, step.reason), approval: approvalSummary(step.approval), approval_state: step.approval.status })
    case 'request':
      break
  }
  const actor = actorOf(c.requester)
  if (step.supersede !== undefined) {
    const after = await end(tx, step.supersede, 'SUPERSEDED', c.now, { reason: 'the job changed', superseded_by_hash: c.jobHash, decision_id: c.base.decision_id })
    entries.push(approvalEntry('approval.superseded', after, actor, c.now, { superseded_by_hash: c.jobHash }))
  }
  if (step.invalidate !== undefined) {
    const after = await end(tx, step.invalidate, 'INVALIDATED', c.now, { reason: 'the policy now asks for other approvers', requirement_changed: true, decision_id: c.base.decision_id })
    entries.push(approvalEntry('approval.invalidated', after, actor, c.now, { reason: after.resolution?.reason, policy_snapshot: c.policySnapshot, rule_id: ev.rule_id }))
  }
  const granted = await useGrantFor(tx, c, ev.approval)
  if (granted !== undefined) {
    entries.push(granted.entry)
    return finish({ ...allowed(asked, ev), reason: `pre-authorized by grant ${granted.grantId}`, grant_ref: granted.grantId })
  }
  if (await countPending(tx, c.job.tenant_id, c.now) >= c.maxPending) {
    return finish(denied(asked, 'approval queue full'))
  }
  const a = await insertApproval(tx, {
    approval_id: c.ids.approvalId(),
    tenant_id: c.job.tenant_id,
    job_id: c.job.job_id,
    job_hash: c.jobHash,
    job: stableStringify(c.job),
    topic: c.job.topic,
    trace_id: c.traceId,
    rule_id: ev.rule_id,
    reason: ev.reason,
    constraints: ev.constraints ?? null,
    policy_snapshot: c.policySnapshot,
    requested_by: actor,
    requester_principal: c.requester.principalId,
    agent_principal: c.job.principal_id ?? null,
    approvals_required: ev.approval.approvers,
    approver_roles: ev.approval.roles,
    dispatch_window_sec: ev.approval.dispatch_window_sec,
    requested_decision_id: c.base.decision_id,
    created_at: c.now,
    expires_at: new Date(c.now.getTime() + ev.approval.ttl_sec * 1000)
  })
  entries.push(approvalEntry('approval.requested', a, actor, c.now, {
    decision_id: c.base.decision_id,
    rule_id: a.rule_id,
    reason: a.reason,
    approvals_required: a.approvals_required,
    approver_roles: a.approver_roles,
    expires_at: a.expires_at.toISOString(),
    dispatch_window_sec: a.dispatch_window_sec,
    policy_snapshot: a.policy_snapshot
  }))
  return finish({ ...asked, approval: approvalSummary(a), approval_state: a.status })
}

/** A DENY the approval's state decides; constraints go with an allow only. */
function denied (asked: Record<string, unknown>, reason: string): Record<string, unknown> {
  const { constraints: _constraints, ...rest } = asked
  return { ...rest, decision: 'DENY', reason }
}

/** ALLOW, or ALLOW_WITH_CONSTRAINTS when the matching rules attached constraints. */
function allowed (asked: Record<string, unknown>, ev: Evaluation): Record<string, unknown> {
  return { ...asked, decision: ev.constraints === undefined ? 'ALLOW' : 'ALLOW_WITH_CONSTRAINTS' }
}

async function end (tx: Queryable, a: ApprovalRow, status: ApprovalRow['status'], now: Date, resolution: Record<string, unknown>): Promise<ApprovalRow> {
  return await changeApproval(tx, a.approval_id, a.status, { status, resolved_at: now, resolution }) as ApprovalRow
}

/** Spends one use of the oldest live grant of the job's session that stands in for its approval. */
async function useGrantFor (tx: Queryable, c: CheckContext, need: ApprovalRequirement): Promise<{ grantId: string, entry: AuditEntry } | undefined> {
  if (c.job.session_id === undefined) return undefined
  // A grant covers the job as the rules saw it: with the tags the policy derived, not only the declared ones.
  const derived = c.evaluation.derived_tags
  const job = derived.length === 0 ? c.job : { ...c.job, risk_tags: [...c.job.risk_tags, ...derived].sort() }
  const grant = (await lockUsableGrants(tx, c.job.tenant_id, c.job.session_id, c.now)).find((g) => grantApplies(g, job, need, c.requester))
  if (grant === undefined) return undefined
  const uses = await useGrant(tx, grant.grant_id)
  return {
    grantId: grant.grant_id,
    entry: {
      type: 'grant.used',
      tenant_id: c.job.tenant_id,
      trace_id: c.traceId,
      job_id: c.job.job_id,
      at: c.now.toISOString(),
      actor: actorOf(c.requester),
      body: { grant_id: grant.grant_id, session_id: grant.session_id, uses, max_uses: grant.max_uses, job_hash: c.jobHash, decision_id: c.base.decision_id, granted_by: grant.created_by }
    }
  }
}
