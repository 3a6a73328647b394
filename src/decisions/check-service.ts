/**
 * The /check pipeline: normalize → evaluate (pure) → sign → record → answer. A decision is
 * returned only once its record is committed; otherwise the caller gets a recorded-nothing DENY.
 */
import { firstApproval } from '../approvals/on-check.js'
import type { ApprovalService } from '../approvals/service.js'
import type { SealedRecord } from '../audit/chain.js'
import { performance } from 'node:perf_hooks'
import { actorOf, type Principal } from '../auth/principal.js'
import type { Clock, IdGenerator } from '../clock.js'
import { ArbiterError, CATALOGUE, errorFor } from '../errors/index.js'
import { evaluate, jobHash, normalizeJob, type CheckRequest, type Evaluation, type Job } from '../policy/index.js'
import type { CompiledPolicy } from '../policy/compile.js'
import { jobTraceId } from '../jobs/trace.js'
import { hasLiveApproval, type ApprovalRow } from '../store/approvals.js'
import type { AuditWriter } from '../ledger/writer.js'
import type { Database } from '../store/db.js'
import { admitJob } from '../store/rate-limits.js'
import { decisionBody, decisionEntry, decisionResponse, decisionWithApproval, simulation, type DecisionBody, type DecisionResponse, type DecisionStamp, type Prepared, type Simulation } from './decision.js'

/** A check whose decision was not recorded, and so not made: answered as a 503 DENY. */
export class UnrecordedDecision extends ArbiterError {
  declare readonly prepared: Prepared

  constructor (prepared: Prepared, cause: unknown) {
    super(CATALOGUE.notRecorded.code, cause instanceof ArbiterError ? cause.message : CATALOGUE.notRecorded.message('the decision'), { cause })
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
      /** Told of every recorded decision once its answer is on its way (shadow mode). */
      observe?: (prepared: Prepared, body: DecisionBody) => void
    }
  ) {}

  /** The job normalized and hashed, under the trace its caller named or else the job's own. */
  prepare (request: CheckRequest): Prepared {
    const job = normalizeJob(request)
    return { job, jobHash: jobHash(job), traceId: request.trace_id ?? jobTraceId(job.tenant_id, job.job_id), policy: this.deps.policy() }
  }

  /** Evaluates without recording anything, explaining every matching rule. */
  simulate (request: CheckRequest): Simulation {
    const prepared = this.prepare(request)
    return simulation(prepared, evaluate(prepared.policy, prepared.job, { explain: true }))
  }

  /**
   * Decides and records, naming `requester` (from its key) as the record's actor; throws
   * UnrecordedDecision when the record is not committed by `deadline`.
   */
  async check (request: CheckRequest, deadline: number, requester: Principal): Promise<DecisionResponse> {
    const prepared = this.prepare(request)
    const now = this.deps.clock.now()
    const stamp: DecisionStamp = { traceId: prepared.traceId, at: now.toISOString(), actor: actorOf(requester) }
    let ev: Evaluation
    try {
      ev = await this.rateLimited(evaluate(prepared.policy, prepared.job), prepared, now, deadline)
    } catch (err) {
      throw new UnrecordedDecision(prepared, err)
    }
    const policyDecision = decisionBody(prepared, ev, this.deps.ids.decisionId())
    let decided: { body: DecisionBody, sealed: SealedRecord }
    try {
      decided = await this.involvesApproval(ev, prepared.job, deadline)
        ? await this.throughApproval(prepared, ev, policyDecision, stamp, requester, now, deadline)
        : { body: policyDecision, sealed: await this.deps.writer.append(decisionEntry(policyDecision, stamp), deadline) }
    } catch (err) {
      throw new UnrecordedDecision(prepared, err)
    }
    // After this turn of the loop, in which the answer is serialized and written.
    if (this.deps.observe !== undefined) setImmediate(this.deps.observe, prepared, decided.body)
    return decisionResponse(decided.body, stamp, decided.sealed)
  }

  /**
   * Decides in one transaction of the job's tenant log: what the approval state makes of the
   * policy's decision, the records of what that did to approvals and grants, and last its own.
   * It reads approvals and grants, never the log, so other checks' approvals may share the
   * group's transaction and lock.
   */
  private async throughApproval (prepared: Prepared, ev: Evaluation, policyDecision: DecisionBody, stamp: DecisionStamp, requester: Principal, now: Date, deadline: number): Promise<{ body: DecisionBody, sealed: SealedRecord }> {
    const { job, jobHash, traceId } = prepared
    const { approvals } = this.deps
    const c = approvals.checkContext({ job, jobHash, traceId, evaluation: ev, policySnapshot: policyDecision.policy_snapshot, requester, now, decisionId: policyDecision.decision_id })
    // Most often the job is new and nothing stands in its way: its approval is opened in one
    // statement with those of the other checks in its group (an opening).
    const first = firstApproval(c)
    let opened: ApprovalRow | undefined
    const { records, result } = await this.deps.writer.transact(job.tenant_id, deadline, async (tx) => {
      // Told anew before each attempt that has the opening; an attempt without it takes the full steps.
      const found = opened
      opened = undefined
      const { entries, outcome } = await approvals.onCheck(tx, c, found)
      const body = decisionWithApproval(policyDecision, outcome)
      return { entries: [...entries, decisionEntry(body, stamp)], result: body }
    }, {
      refuses: false,
      readsLog: false,
      ...(first === undefined ? {} : { opening: { batch: approvals.openFirst, input: first, opened: (row: ApprovalRow | undefined) => (opened = row) !== undefined } })
    })
    return { body: result, sealed: records[records.length - 1] }
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

/** Everything a check waits for is within its budget. */
async function withinBudget<T> (work: Promise<T>, deadline: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(errorFor('recordOverBudget')), Math.max(0, deadline - performance.now()))
  })
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}
