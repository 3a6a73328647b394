/**
 * What a /check does when the policy asks for approval (or denies a job that has one), inside
 * the caller's transaction of the tenant's log: find the job's latest approval, move it on, and
 * say what that means for the check. The caller turns the outcome into the decision and appends
 * its record after the records returned here.
 */
import stableStringify from 'fast-json-stable-stringify'
import type { AuditEntry } from '../audit/chain.js'
import { actorOf, speaksForJob, type Principal } from '../auth/principal.js'
import type { IdGenerator } from '../clock.js'
import type { ApprovalRequirement, Evaluation, Job } from '../policy/types.js'
import { changeApproval, frontOfLine, insertApproval, lockLatestApproval, queueFull, type ApprovalRow, type NewApproval } from '../store/approvals.js'
import type { Queryable } from '../store/db.js'
import { lockUsableGrants, useGrant } from '../store/grants.js'
import { grantApplies, isLive, recheck, type Recheck } from './lifecycle.js'
import { nextInLine, placeInLine } from './line.js'
import { approvalEntry, CLOCK_ACTOR, expire } from './records.js'

export interface CheckContext {
  job: Job
  jobHash: string
  traceId: string
  evaluation: Evaluation
  policySnapshot: string
  requester: Principal
  now: Date
  /** The id of the check's decision: the records of what it does to an approval name it. */
  decisionId: string
  maxPending: number
  ids: Pick<IdGenerator, 'approvalId'>
  /** The id of the approval this check opens, once it has tried to: the same however often it tries. */
  approvalId?: string
}

/** What the job's approval state makes of this check. */
export type ApprovalOutcome =
  /** The policy denies the job and no live approval covers this content: its answer stands. */
  | { kind: 'unaffected' }
  /** The job id has a live approval for an agent this key may not speak for: denied, that approval left as it is. */
  | { kind: 'foreign' }
  /** The policy now denies the job, so the approval given or pending for it no longer counts. */
  | { kind: 'invalidated', approval: ApprovalRow }
  /**
   * Waiting for reviewers: the approval found pending, or the one requested now; or waiting
   * QUEUED for its turn in a single-flight session, behind the job in front.
   */
  | { kind: 'pending', approval: ApprovalRow, behind?: string }
  /** Approved, and consumed by this check. */
  | { kind: 'approved', approval: ApprovalRow, approvers: readonly string[] | undefined }
  /** Pre-authorized by a session grant, one use of which this check spent. */
  | { kind: 'granted', grantId: string }
  /** Denied: the approval's final answer for this job (with it), or no room in the queue to ask (without). */
  | { kind: 'refused', reason: string, approval?: ApprovalRow }

export interface CheckOutcome {
  /** The records of what the check did to approvals and grants, in order. */
  entries: AuditEntry[]
  outcome: ApprovalOutcome
}

/**
 * The approval a check for `c` opens if nothing stands in its way (see insertFirstApprovals),
 * tried for many checks in one statement before their steps below; undefined if the policy does
 * not ask for approval.
 */
export function firstApproval (c: CheckContext): (NewApproval & { status: 'PENDING' }) | undefined {
  const ev = c.evaluation
  return ev.decision === 'REQUIRE_APPROVAL' && ev.approval !== undefined ? newApproval(c, ev.approval, 'PENDING') : undefined
}

/** What the check makes of the job's approvals: `opened` is its first approval if that statement opened it. */
export async function decideWithApproval (tx: Queryable, c: CheckContext, opened?: ApprovalRow): Promise<CheckOutcome> {
  if (opened !== undefined) return { entries: [requested(opened, c)], outcome: { kind: 'pending', approval: opened } }
  const ev = c.evaluation
  const entries: AuditEntry[] = []
  const latest = await lockLatestApproval(tx, c.job.tenant_id, c.job.job_id)
  let outcome: ApprovalOutcome
  if (latest !== undefined && isLive(latest.status) && !speaksForJob(c.requester, latest.agent_principal)) {
    // Not this key's to supersede or invalidate.
    outcome = { kind: 'foreign' }
  } else if (ev.decision !== 'REQUIRE_APPROVAL' || ev.approval === undefined) {
    outcome = await whenDenied(tx, c, latest, entries)
  } else {
    outcome = await whenAsked(tx, c, ev.approval, latest, entries)
  }
  return { entries, outcome }
}

/**
 * The policy now denies the job: an approval given or pending for exactly this job no longer
 * counts. One for other content is left for that content.
 */
async function whenDenied (tx: Queryable, c: CheckContext, latest: ApprovalRow | undefined, entries: AuditEntry[]): Promise<ApprovalOutcome> {
  if (latest === undefined || !isLive(latest.status) || latest.job_hash !== c.jobHash) return { kind: 'unaffected' }
  const ev = c.evaluation
  const after = await end(tx, latest, 'INVALIDATED', c.now, { reason: `the policy now denies the job: ${ev.reason}`, decision_id: c.decisionId })
  entries.push(approvalEntry('approval.invalidated', after, actorOf(c.requester), c.now, { reason: after.resolution?.reason, policy_snapshot: c.policySnapshot, rule_id: ev.rule_id }))
  entries.push(...await nextInLine(tx, latest, c.now))
  return { kind: 'invalidated', approval: after }
}

async function whenAsked (tx: Queryable, c: CheckContext, need: ApprovalRequirement, latest: ApprovalRow | undefined, entries: AuditEntry[]): Promise<ApprovalOutcome> {
  const step = recheck(latest, c.jobHash, need, c.now)
  switch (step.kind) {
    case 'pending':
      return await stillPending(tx, step.approval)
    case 'expire': {
      const after = await expire(tx, step.approval, c.now)
      entries.push(approvalEntry('approval.expired', after, CLOCK_ACTOR, c.now, { noticed_by: 'check', was: step.approval.status }))
      entries.push(...await nextInLine(tx, step.approval, c.now))
      return { kind: 'refused', reason: 'approval expired', approval: after }
    }
    case 'consume': {
      const a = step.approval
      const after = await end(tx, a, 'CONSUMED', c.now, { ...a.resolution, consumed_by: c.decisionId })
      entries.push(approvalEntry('approval.consumed', after, actorOf(c.requester), c.now, { decision_id: c.decisionId }))
      const approvers = Array.isArray(a.resolution?.approvers) ? a.resolution.approvers as string[] : undefined
      return { kind: 'approved', approval: after, approvers }
    }
    case 'refused':
      return { kind: 'refused', reason: step.reason, approval: step.approval }
    case 'request':
      return await request(tx, c, need, step, entries)
  }
}

/** Nothing covers the job: what covered other content ends, then a grant stands in or a new approval is asked for. */
async function request (tx: Queryable, c: CheckContext, need: ApprovalRequirement, step: Extract<Recheck, { kind: 'request' }>, entries: AuditEntry[]): Promise<ApprovalOutcome> {
  const ev = c.evaluation
  const actor = actorOf(c.requester)
  if (step.supersede !== undefined) {
    const after = await end(tx, step.supersede, 'SUPERSEDED', c.now, { reason: 'the job changed', superseded_by_hash: c.jobHash, decision_id: c.decisionId })
    entries.push(approvalEntry('approval.superseded', after, actor, c.now, { superseded_by_hash: c.jobHash }))
    // A changed job is a new question: it goes to the back of its session's line.
    entries.push(...await nextInLine(tx, step.supersede, c.now))
  }
  if (step.invalidate !== undefined) {
    const after = await end(tx, step.invalidate, 'INVALIDATED', c.now, { reason: 'the policy now asks for other approvers', requirement_changed: true, decision_id: c.decisionId })
    entries.push(approvalEntry('approval.invalidated', after, actor, c.now, { reason: after.resolution?.reason, policy_snapshot: c.policySnapshot, rule_id: ev.rule_id }))
    entries.push(...await nextInLine(tx, step.invalidate, c.now))
  }
  const granted = await useGrantFor(tx, c, need)
  if (granted !== undefined) {
    entries.push(granted.entry)
    return { kind: 'granted', grantId: granted.grantId }
  }
  if (await queueFull(tx, c.job.tenant_id, c.now, c.maxPending)) return { kind: 'refused', reason: 'approval queue full' }
  const singleFlight = need.single_flight === 'session'
  const { behind } = await placeInLine(tx, c.job.tenant_id, c.job.session_id, singleFlight)
  const a = await insertApproval(tx, newApproval(c, need, behind === undefined ? 'PENDING' : 'QUEUED'))
  if (behind !== undefined) {
    // Not in front of reviewers yet: its approval.requested is written at its turn (line.ts).
    entries.push(approvalEntry('approval.queued', a, actor, c.now, {
      decision_id: c.decisionId,
      rule_id: a.rule_id,
      reason: a.reason,
      behind,
      session_id: a.session_id,
      approvals_required: a.approvals_required,
      approver_roles: a.approver_roles,
      ttl_sec: need.ttl_sec,
      policy_snapshot: a.policy_snapshot
    }))
    return { kind: 'pending', approval: a, behind }
  }
  entries.push(requested(a, c))
  return { kind: 'pending', approval: a }
}

/** The approval a check opens for its job, waiting for reviewers or (QUEUED) for its turn. */
function newApproval<S extends NewApproval['status']> (c: CheckContext, need: ApprovalRequirement, status: S): NewApproval & { status: S } {
  const ev = c.evaluation
  c.approvalId ??= c.ids.approvalId()
  return {
    status,
    session_id: c.job.session_id ?? null,
    single_flight: need.single_flight === 'session',
    ttl_sec: need.ttl_sec,
    approval_id: c.approvalId,
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
    requested_by: actorOf(c.requester),
    requester_principal: c.requester.principalId,
    agent_principal: c.job.principal_id ?? null,
    approvals_required: need.approvers,
    approver_roles: need.roles,
    dispatch_window_sec: need.dispatch_window_sec,
    requested_decision_id: c.decisionId,
    created_at: c.now,
    expires_at: new Date(c.now.getTime() + need.ttl_sec * 1000)
  }
}

/** The record of an approval put in front of reviewers by this check. */
function requested (a: ApprovalRow, c: CheckContext): AuditEntry {
  return approvalEntry('approval.requested', a, actorOf(c.requester), c.now, {
    decision_id: c.decisionId,
    rule_id: a.rule_id,
    reason: a.reason,
    approvals_required: a.approvals_required,
    approver_roles: a.approver_roles,
    expires_at: a.expires_at.toISOString(),
    dispatch_window_sec: a.dispatch_window_sec,
    policy_snapshot: a.policy_snapshot
  })
}

/** A live approval found again: pending, or still queued behind the session's job in front. */
async function stillPending (tx: Queryable, a: ApprovalRow): Promise<ApprovalOutcome> {
  if (a.status !== 'QUEUED' || a.session_id === null) return { kind: 'pending', approval: a }
  return { kind: 'pending', approval: a, behind: await frontOfLine(tx, a.tenant_id, a.session_id) }
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
      body: { grant_id: grant.grant_id, session_id: grant.session_id, uses, max_uses: grant.max_uses, job_hash: c.jobHash, decision_id: c.decisionId, granted_by: grant.created_by }
    }
  }
}
