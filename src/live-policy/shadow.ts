/**
 * Shadow mode: a candidate policy (POLICY_SHADOW_PATH) that every recorded /check also evaluates,
 * after its answer is on its way. The candidate decides nothing; where it would have decided
 * otherwise than the policy in force, the disagreement is counted (by live decision, candidate
 * decision and the candidate's rule) and the newest ones are kept as samples.
 */
import type { Counter } from 'prom-client'
import type { AuditEntry } from '../audit/chain.js'
import type { DecisionBody, Prepared } from '../decisions/decision.js'
import { evaluate, type CompiledPolicy, type Decision } from '../policy/index.js'
import { DECISIONS } from '../policy/types.js'

export interface ShadowSample {
  at: string
  tenant_id: string
  job_id: string
  trace_id: string
  decision_id: string
  topic: string
  live: Decision
  live_rule: string | null
  candidate: Decision
  candidate_rule: string | null
}

export interface ShadowReport {
  enabled: boolean
  /** The candidate in force now, and the live policy's. */
  candidate_snapshot: string | null
  live_snapshot: string | null
  /** When counting began: the start, or the candidate's last change. */
  since: string
  evaluated: number
  disagreements: number
  matrix: Array<{ live: Decision, candidate: Decision, count: number }>
  by_rule: Array<{ candidate_rule: string | null, live: Decision, candidate: Decision, count: number }>
  /** The newest disagreements, newest first. */
  samples: ShadowSample[]
  /** Checks whose shadow evaluation threw (should stay 0; the answer was not affected). */
  errors: number
}

export interface ShadowCounters {
  evaluations: Counter<string>
  disagreements: Counter<'live' | 'candidate' | 'rule'>
}

/** The actor of the records the shadow writes: Arbiter itself, for nobody asked. */
export const SHADOW_ACTOR = Object.freeze({ system: 'arbiter-shadow' })

/** How many disagreements the report keeps. */
export const SHADOW_SAMPLES = 100

export class Shadow {
  private snapshot: string | undefined
  private since: string
  private evaluated = 0
  private errors = 0
  private readonly cells = new Map<string, number>()
  private readonly rules = new Map<string, number>()
  private samples: ShadowSample[] = []

  constructor (
    private readonly candidate: () => CompiledPolicy | undefined,
    private readonly counters: ShadowCounters,
    private readonly now: () => Date,
    /** Given each disagreement as a `policy.shadow` record to append, when they are recorded. */
    private readonly record?: (entry: AuditEntry) => void
  ) {
    this.since = now().toISOString()
  }

  /**
   * Judges a recorded decision's job again under the candidate. Never throws: the shadow must not
   * touch the answer, which is given already.
   */
  observe (prepared: Prepared, body: DecisionBody): void {
    const policy = this.candidate()
    if (policy === undefined) return
    try {
      this.compare(policy, prepared, body)
    } catch {
      this.errors++
    }
  }

  private compare (policy: CompiledPolicy, prepared: Prepared, body: DecisionBody): void {
    if (this.snapshot === undefined) this.snapshot = policy.snapshotId
    else if (policy.snapshotId !== this.snapshot) this.restart(policy.snapshotId)
    // The policy's own decision: an approval or grant changes the answer, not what the policy asked.
    const live = body.policy_decision ?? body.decision
    // A full rate limit is taken as full under the candidate: it counts nothing of its own.
    const limited = live === 'THROTTLE' && body.rule_id !== null && prepared.policy.rules.some((r) => r.id === body.rule_id && r.rateLimit !== undefined)
    const ev = limited ? evaluate(policy, prepared.job, { exceeded: new Map([[body.rule_id as string, body.retry_after_ms ?? 0]]) }) : evaluate(policy, prepared.job)
    this.evaluated++
    this.counters.evaluations.inc()
    if (ev.decision === live) return
    const cell = `${live}>${ev.decision}`
    this.cells.set(cell, (this.cells.get(cell) ?? 0) + 1)
    const ruleKey = JSON.stringify([ev.rule_id, live, ev.decision])
    this.rules.set(ruleKey, (this.rules.get(ruleKey) ?? 0) + 1)
    this.counters.disagreements.inc({ live, candidate: ev.decision, rule: ev.rule_id ?? 'none' })
    const sample: ShadowSample = {
      at: this.now().toISOString(),
      tenant_id: prepared.job.tenant_id,
      job_id: prepared.job.job_id,
      trace_id: prepared.traceId,
      decision_id: body.decision_id,
      topic: prepared.job.topic,
      live,
      live_rule: body.rule_id,
      candidate: ev.decision,
      candidate_rule: ev.rule_id
    }
    this.samples.unshift(sample)
    if (this.samples.length > SHADOW_SAMPLES) this.samples.length = SHADOW_SAMPLES
    this.record?.(shadowEntry(sample, body.policy_snapshot, policy.snapshotId))
  }

  /** A new candidate starts a new report; the counters on /metrics go on (labelled by rule). */
  private restart (snapshotId: string): void {
    this.snapshot = snapshotId
    this.since = this.now().toISOString()
    this.evaluated = 0
    this.cells.clear()
    this.rules.clear()
    this.samples = []
  }

  report (liveSnapshot: string | undefined): ShadowReport {
    const matrix: ShadowReport['matrix'] = []
    for (const live of DECISIONS) {
      for (const candidate of DECISIONS) {
        const count = this.cells.get(`${live}>${candidate}`)
        if (count !== undefined) matrix.push({ live, candidate, count })
      }
    }
    return {
      enabled: true,
      candidate_snapshot: this.candidate()?.snapshotId ?? null,
      live_snapshot: liveSnapshot ?? null,
      since: this.since,
      evaluated: this.evaluated,
      disagreements: matrix.reduce((n, c) => n + c.count, 0),
      matrix,
      by_rule: [...this.rules].sort(([ka, a], [kb, b]) => b - a || (ka < kb ? -1 : 1)).map(([key, count]) => {
        const [rule, live, candidate] = JSON.parse(key) as [string | null, Decision, Decision]
        return { candidate_rule: rule, live, candidate, count }
      }),
      samples: [...this.samples],
      errors: this.errors
    }
  }
}

/** The `policy.shadow` record of a disagreement: in the job's log and trace, beside its decision. */
export function shadowEntry (s: ShadowSample, liveSnapshot: string, candidateSnapshot: string): AuditEntry {
  return {
    type: 'policy.shadow',
    tenant_id: s.tenant_id,
    trace_id: s.trace_id,
    job_id: s.job_id,
    at: s.at,
    actor: SHADOW_ACTOR,
    body: {
      decision_id: s.decision_id,
      live: s.live,
      live_rule: s.live_rule,
      live_snapshot: liveSnapshot,
      candidate: s.candidate,
      candidate_rule: s.candidate_rule,
      candidate_snapshot: candidateSnapshot
    }
  }
}
