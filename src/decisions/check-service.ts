/**
 * The /check pipeline: normalize → evaluate (pure) → sign → record → answer. A decision is
 * returned only once its record is committed; otherwise the caller gets a recorded-nothing DENY.
 */
import type { ApprovalService } from '../approvals/service.js'
import type { AuditEntry, SealedRecord } from '../audit/chain.js'
import { performance } from 'node:perf_hooks'
import { actorOf, type Principal } from '../auth/principal.js'
import type { Clock, IdGenerator } from '../clock.js'
import { ArbiterError } from '../errors/index.js'
import { evaluate, jobHash, normalizeJob, type CheckRequest, type Evaluation, type Job } from '../policy/index.js'
import type { CompiledPolicy } from '../policy/compile.js'
import { hasLiveApproval } from '../store/approvals.js'
import type { AuditWriter } from '../ledger/writer.js'
import type { Database } from '../store/db.js'
import { admitJob } from '../store/rate-limits.js'

export interface DecisionResponse {
  decision: Evaluation['decision']
  reason: string
  rule_id: string | null
  matched_rules: string[]
  constraints?: Evaluation['constraints']
  retry_after_ms?: number
  derived_risk_tags?: string[]
  command?: Evaluation['command']
  missing_evidence?: string[]
  /** What the policy alone said, when an approval or grant made the answer differ from it. */
  policy_decision?: 'REQUIRE_APPROVAL'
  approval?: Record<string, unknown>
  approval_ref?: string
  grant_ref?: string
  policy_snapshot: string
  job_hash: string
  decision_id: string
  trace_id: string
  checked_at: string
  signature: string
}

export interface Prepared {
  job: Job
  jobHash: string
  traceId: string
  policy: CompiledPolicy
}

/** A check whose decision was not recorded, and so not made: answered as a 503 DENY. */
export class UnrecordedDecision extends ArbiterError {
  declare readonly prepared: Prepared

  constructor (prepared: Prepared, cause: unknown) {
    super('ARBITER_ERR_RECORD_UNAVAILABLE', cause instanceof ArbiterError ? cause.message : 'the decision could not be recorded', { cause })
    // Not enumerable: a logged failure must not carry the whole compiled policy and job along.
    Object.defineProperty(this, 'prepared', { value: prepared, enumerable: false })
  }
}

export class CheckService {
  constructor (
    private readonly deps: {
      policy: () => CompiledPolicy
      writer: AuditWriter
      approvals: ApprovalService
      db: Database
      clock: Clock
      ids: IdGenerator
    }
  ) {}

  prepare (request: CheckRequest): Prepared {
    const job = normalizeJob(request)
    return { job, jobHash: jobHash(job), traceId: request.trace_id ?? this.deps.ids.traceId(), policy: this.deps.policy() }
  }

  /** Evaluates without recording anything, explaining every matching rule. */
  simulate (request: CheckRequest): Prepared & { evaluation: Evaluation } {
    const prepared = this.prepare(request)
    return { ...prepared, evaluation: evaluate(prepared.policy, prepared.job, { explain: true }) }
  }

  /**
   * Decides and records, naming `requester` (from its key) as the record's actor; throws
   * UnrecordedDecision when the record is not committed by `deadline`.
   */
  async check (request: CheckRequest, deadline: number, requester: Principal): Promise<DecisionResponse> {
    const prepared = this.prepare(request)
    const { job, policy } = prepared
    const now = this.deps.clock.now()
    const at = now.toISOString()
    let ev: Evaluation
    try {
      ev = await this.rateLimited(evaluate(policy, job), prepared, now, deadline)
    } catch (err) {
      throw new UnrecordedDecision(prepared, err)
    }
    const base = {
      decision_id: this.deps.ids.decisionId(),
      job,
      job_hash: prepared.jobHash,
      decision: ev.decision,
      reason: ev.reason,
      rule_id: ev.rule_id,
      matched_rules: ev.matched_rules,
      ...(ev.constraints === undefined ? {} : { constraints: ev.constraints }),
      ...decisionExtras(ev),
      policy_snapshot: policy.snapshotId
    }
    const decisionEntry = (body: Record<string, unknown>): AuditEntry => ({
      type: 'decision', tenant_id: job.tenant_id, trace_id: prepared.traceId, job_id: job.job_id, at, actor: actorOf(requester), body
    })
    let body: Record<string, unknown> = base
    let sealed: SealedRecord
    try {
      if (await this.involvesApproval(ev, job, deadline)) {
        const decided = await this.deps.approvals.decide({
          job, jobHash: prepared.jobHash, traceId: prepared.traceId, evaluation: ev, policySnapshot: policy.snapshotId, requester, now, base, decisionEntry
        }, deadline)
        body = decided.body
        sealed = decided.decision
      } else {
        sealed = await this.deps.writer.append(decisionEntry(base), deadline)
      }
    } catch (err) {
      throw new UnrecordedDecision(prepared, err)
    }
    const { job: _job, approval_state: _state, ...response } = body
    return { ...response, trace_id: prepared.traceId, checked_at: at, signature: `hmac-sha256:${sealed.keyId}:${sealed.mac}` } as unknown as DecisionResponse
  }

  /**
   * Counts the job against the limits of its matching rate-limited rules, and evaluates again
   * with the ones it is over. A job denied or throttled anyway is not counted: it will not run.
   */
  private async rateLimited (ev: Evaluation, prepared: Prepared, now: Date, deadline: number): Promise<Evaluation> {
    if (ev.rate_limits.length === 0 || ev.decision === 'DENY' || ev.decision === 'THROTTLE') return ev
    const { job } = prepared
    const admission = { tenantId: job.tenant_id, jobId: job.job_id, jobHash: prepared.jobHash, uses: ev.rate_limits, now }
    const exceeded = await withinBudget(admitJob(this.deps.db, admission, deadline - performance.now()), deadline)
    return exceeded.size === 0 ? ev : evaluate(prepared.policy, job, { exceeded })
  }

  /**
   * A job that needs approval goes through its approval; so does a denied job that has one (the
   * denial invalidates it). Anything else is one record in a group commit: the hot path.
   */
  private async involvesApproval (ev: Evaluation, job: Job, deadline: number): Promise<boolean> {
    if (ev.decision === 'REQUIRE_APPROVAL') return true
    if (ev.decision !== 'DENY') return false
    return await withinBudget(hasLiveApproval(this.deps.db, job.tenant_id, job.job_id), deadline)
  }
}

/** What the evaluation adds to a decision beyond its core: each only when it says something. */
export function decisionExtras (ev: Evaluation): Partial<DecisionResponse> {
  const missing = ev.matches.find((m) => m.rule_id === ev.rule_id)?.missing_evidence
  return {
    ...(ev.retry_after_ms === undefined ? {} : { retry_after_ms: ev.retry_after_ms }),
    ...(ev.derived_tags.length === 0 ? {} : { derived_risk_tags: ev.derived_tags }),
    ...(ev.command === undefined ? {} : { command: ev.command }),
    ...(missing === undefined ? {} : { missing_evidence: missing })
  }
}

/** Everything a check waits for is within its budget. */
async function withinBudget<T> (work: Promise<T>, deadline: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new ArbiterError('ARBITER_ERR_RECORD_UNAVAILABLE', 'the record could not be written within the budget')), Math.max(0, deadline - performance.now()))
  })
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}
