/**
 * The shape of a /check decision, in one place: the body signed into its record, the record
 * entry, the HTTP answer, and the two answers beside it (the simulation, the unrecorded DENY).
 * Records are canonicalized (sorted keys) and answers are serialized in their response schema's
 * order, so the order in which these builders set fields changes no byte of either.
 */
import type { ApprovalOutcome } from '../approvals/on-check.js'
import { approvalSummary, type ApprovalSummary } from '../approvals/view.js'
import type { Actor, AuditEntry, SealedRecord } from '../audit/chain.js'
import type { ApprovalStatus } from '../domain/approval-status.js'
import { errorBodyFor, type ErrorBody } from '../errors/index.js'
import type { CompiledPolicy } from '../policy/compile.js'
import type { ApprovalRequirement, CommandSummary, Constraints, Decision, Evaluation, Job, RateLimitUse, RuleMatch } from '../policy/types.js'
import type { ApprovalRow } from '../store/approvals.js'

/** A check made ready to decide: the job as normalized and hashed, its trace, and the policy it meets. */
export interface Prepared {
  job: Job
  jobHash: string
  traceId: string
  policy: CompiledPolicy
}

/** What the policy said, and what the evaluation adds to it, each extra only when it says something. */
interface PolicyAnswer {
  decision: Decision
  reason: string
  rule_id: string | null
  matched_rules: string[]
  constraints?: Constraints
  retry_after_ms?: number
  derived_risk_tags?: string[]
  command?: CommandSummary
  missing_evidence?: string[]
}

/** What a decision record signs. */
export interface DecisionBody extends PolicyAnswer {
  decision_id: string
  job: Job
  job_hash: string
  policy_snapshot: string
  /** What the policy alone said, when an approval or grant made the answer differ from it. */
  policy_decision?: 'REQUIRE_APPROVAL'
  approval?: ApprovalSummary
  /** The approval's status as this decision left it (in the record only). */
  approval_state?: ApprovalStatus
  approval_ref?: string
  grant_ref?: string
}

/** Where, when and on whose key a decision is recorded. */
export interface DecisionStamp {
  traceId: string
  at: string
  actor: Actor
}

/** The 200 answer of /check: the body without the job and the approval state, with the record's stamp. */
export interface DecisionResponse extends Omit<DecisionBody, 'job' | 'approval_state'> {
  trace_id: string
  checked_at: string
  signature: string
}

/** The answer of /check/simulate: every matching rule explained, nothing recorded. */
export interface Simulation extends PolicyAnswer {
  approval?: ApprovalRequirement
  rate_limits: RateLimitUse[]
  policy_snapshot: string
  job_hash: string
  trace_id: string
  recorded: false
  matches: RuleMatch[]
}

/** The 503 answer of a check whose decision could not be recorded: the error shape plus a DENY. */
export interface UnrecordedDeny extends ErrorBody {
  decision: 'DENY'
  reason: string
  trace_id: string
  job_hash: string
  policy_snapshot: string
}

/** The decision as the policy alone makes it. */
export function decisionBody (prepared: Prepared, ev: Evaluation, decisionId: string): DecisionBody {
  return { decision_id: decisionId, job: prepared.job, job_hash: prepared.jobHash, ...policyAnswer(ev), policy_snapshot: prepared.policy.snapshotId }
}

/**
 * The decision the job's approval state makes of the policy's (`policy`, from decisionBody).
 * Unless the outcome is about a denial, the policy asked for approval, and the body says so.
 */
export function decisionWithApproval (policy: DecisionBody, outcome: ApprovalOutcome): DecisionBody {
  switch (outcome.kind) {
    case 'unaffected':
      return policy
    case 'foreign':
      // Still marked as asked when the policy asked: a replay compares the policy's own decision.
      return denied(policy.decision === 'REQUIRE_APPROVAL' ? asked(policy) : policy, `job ${policy.job.job_id} has a live approval for another agent`)
    case 'invalidated':
      return { ...policy, ...approvalState(outcome.approval) }
    case 'pending':
      return { ...asked(policy), ...approvalState(outcome.approval, outcome.behind) }
    case 'approved': {
      const approvers = outcome.approvers === undefined ? 'reviewers' : outcome.approvers.join(', ')
      return { ...allowed(asked(policy), `approved by ${approvers}`), approval_ref: outcome.approval.approval_id, ...approvalState(outcome.approval) }
    }
    case 'granted':
      return { ...allowed(asked(policy), `pre-authorized by grant ${outcome.grantId}`), grant_ref: outcome.grantId }
    case 'refused': {
      const refused = denied(asked(policy), outcome.reason)
      return outcome.approval === undefined ? refused : { ...refused, ...approvalState(outcome.approval) }
    }
  }
}

/** The decision's record, in the log of its job's tenant (a copy of the body: records take an open object). */
export function decisionEntry (body: DecisionBody, stamp: DecisionStamp): AuditEntry {
  return { type: 'decision', tenant_id: body.job.tenant_id, trace_id: stamp.traceId, job_id: body.job.job_id, at: stamp.at, actor: stamp.actor, body: { ...body } }
}

/** The 200 answer for a decision whose record `sealed` is committed. */
export function decisionResponse (body: DecisionBody, stamp: DecisionStamp, sealed: SealedRecord): DecisionResponse {
  const { job: _job, approval_state: _state, ...answer } = body
  return { ...answer, trace_id: stamp.traceId, checked_at: stamp.at, signature: `hmac-sha256:${sealed.keyId}:${sealed.mac}` }
}

/** The answer of /check/simulate for `ev`, an evaluation with every match explained. */
export function simulation (prepared: Prepared, ev: Evaluation): Simulation {
  const { decision, reason, rule_id: ruleId, matched_rules: matchedRules, constraints, ...extras } = policyAnswer(ev)
  return {
    decision,
    reason,
    rule_id: ruleId,
    matched_rules: matchedRules,
    constraints,
    approval: ev.approval,
    ...extras,
    rate_limits: ev.rate_limits,
    policy_snapshot: prepared.policy.snapshotId,
    job_hash: prepared.jobHash,
    trace_id: prepared.traceId,
    recorded: false,
    matches: ev.matches
  }
}

/** The DENY a check answers when `why` kept its decision from being recorded. */
export function unrecordedDeny (prepared: Prepared, why: string): UnrecordedDeny {
  const body = errorBodyFor('decisionNotRecorded', why)
  return {
    ...body,
    decision: 'DENY',
    reason: body.message,
    trace_id: prepared.traceId,
    job_hash: prepared.jobHash,
    policy_snapshot: prepared.policy.snapshotId
  }
}

function policyAnswer (ev: Evaluation): PolicyAnswer {
  const missing = ev.matches.find((m) => m.rule_id === ev.rule_id)?.missing_evidence
  return {
    decision: ev.decision,
    reason: ev.reason,
    rule_id: ev.rule_id,
    matched_rules: ev.matched_rules,
    ...(ev.constraints === undefined ? {} : { constraints: ev.constraints }),
    ...(ev.retry_after_ms === undefined ? {} : { retry_after_ms: ev.retry_after_ms }),
    ...(ev.derived_tags.length === 0 ? {} : { derived_risk_tags: ev.derived_tags }),
    ...(ev.command === undefined ? {} : { command: ev.command }),
    ...(missing === undefined ? {} : { missing_evidence: missing })
  }
}

/** The policy's answer, marked as one that asked for approval. */
function asked (policy: DecisionBody): DecisionBody {
  return { ...policy, policy_decision: 'REQUIRE_APPROVAL' }
}

/** The approval as the answer shows it, and its status for the record. */
function approvalState (a: ApprovalRow, behind?: string): Pick<DecisionBody, 'approval' | 'approval_state'> {
  return { approval: approvalSummary(a, behind), approval_state: a.status }
}

/** A DENY the approval's state decides; constraints go with an allow only. */
function denied (body: DecisionBody, reason: string): DecisionBody {
  const { constraints: _constraints, ...rest } = body
  return { ...rest, decision: 'DENY', reason }
}

/** ALLOW, or ALLOW_WITH_CONSTRAINTS when the matching rules attached constraints. */
function allowed (body: DecisionBody, reason: string): DecisionBody {
  return { ...body, decision: body.constraints === undefined ? 'ALLOW' : 'ALLOW_WITH_CONSTRAINTS', reason }
}
