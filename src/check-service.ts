/**
 * The /check pipeline: normalize → evaluate (pure) → sign → record → answer. A decision is
 * returned only once its record is committed; otherwise the caller gets a recorded-nothing DENY.
 */
import type { ApprovalService } from './approvals/service.js'
import type { AuditEntry, SealedRecord } from './audit/chain.js'
import { performance } from 'node:perf_hooks'
import { actorOf, type Principal } from './auth/principal.js'
import type { Clock, IdGenerator } from './clock.js'
import { ArbiterError } from './errors.js'
import { evaluate, jobHash, normalizeJob, type CheckRequest, type Evaluation, type Job } from './policy/index.js'
import type { CompiledPolicy } from './policy/compile.js'
import { hasLiveApproval } from './store/approvals.js'
import type { AuditWriter } from './store/audit-writer.js'
import type { Queryable } from './store/db.js'

export interface DecisionResponse {
  decision: Evaluation['decision']
  reason: string
  rule_id: string | null
  matched_rules: string[]
  constraints?: Evaluation['constraints']
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

export class RecordFailure extends ArbiterError {
  constructor (readonly prepared: Prepared, cause: unknown) {
    super('ARBITER_ERR_RECORD_UNAVAILABLE', cause instanceof ArbiterError ? cause.message : 'the decision could not be recorded', { cause })
  }
}

export class CheckService {
  constructor (
    private readonly deps: {
      policy: () => CompiledPolicy
      writer: AuditWriter
      approvals: ApprovalService
      db: Queryable
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
   * RecordFailure when the record is not committed by `deadline`.
   */
  async check (request: CheckRequest, deadline: number, requester: Principal): Promise<DecisionResponse> {
    const prepared = this.prepare(request)
    const { job, policy } = prepared
    const ev = evaluate(policy, job)
    const now = this.deps.clock.now()
    const at = now.toISOString()
    const base = {
      decision_id: this.deps.ids.decisionId(),
      job,
      job_hash: prepared.jobHash,
      decision: ev.decision,
      reason: ev.reason,
      rule_id: ev.rule_id,
      matched_rules: ev.matched_rules,
      ...(ev.constraints === undefined ? {} : { constraints: ev.constraints }),
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
      throw new RecordFailure(prepared, err)
    }
    const { job: _job, approval_state: _state, ...response } = body
    return { ...response, trace_id: prepared.traceId, checked_at: at, signature: `hmac-sha256:${sealed.keyId}:${sealed.mac}` } as unknown as DecisionResponse
  }

  /**
   * A job that needs approval goes through its approval; so does a denied job that has one (the
   * denial invalidates it). Anything else is one record in a group commit: the hot path.
   */
  private async involvesApproval (ev: Evaluation, job: Job, deadline: number): Promise<boolean> {
    if (ev.decision === 'REQUIRE_APPROVAL') return true
    if (ev.decision !== 'DENY') return false
    // Within the check's budget like everything else it waits for.
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new ArbiterError('ARBITER_ERR_RECORD_UNAVAILABLE', 'the record could not be written within the budget')), Math.max(0, deadline - performance.now()))
    })
    try {
      return await Promise.race([hasLiveApproval(this.deps.db, job.tenant_id, job.job_id), late])
    } finally {
      clearTimeout(timer)
    }
  }
}
