/**
 * What a candidate policy would have done to recorded traffic, counted: the matrix of live
 * decision → candidate decision, the changes by the rules that decided before and after, the
 * tenants and topics most affected, and a few example jobs per changed cell. Pure: the caller
 * reads the log and evaluates; this only counts what it is given.
 */
import { DECISIONS, RESTRICTIVENESS, type Decision } from '../policy/types.js'

/** One recorded decision, and what the candidate makes of its job. */
export interface ReplayedDecision {
  tenant_id: string
  seq: number
  at: string
  trace_id: string
  job_id: string
  decision_id: string
  topic: string
  /** What the live policy decided (for an answer an approval or grant made, the policy's own decision). */
  live: Decision
  live_rule: string | null
  candidate: Decision
  candidate_rule: string | null
  /** The live answer came through an approval or a grant. */
  via?: 'approval' | 'grant'
  /** The live decision was a THROTTLE of a rate limit that was full; the candidate's rule of that id was taken as full too. */
  rate_limited?: boolean
}

/** A change no decision may make: `live>candidate` (either may be `*`), or every loosening or tightening. */
export type FailOn = { kind: 'cell', live: Decision | '*', candidate: Decision | '*' } | { kind: 'any-loosening' } | { kind: 'any-tightening' } | { kind: 'any' }

export interface ReplayExample {
  tenant_id: string
  job_id: string
  trace_id: string
  decision_id: string
  seq: number
  at: string
  live_rule: string | null
  candidate_rule: string | null
}

export interface ReplayReport {
  judged: number
  changed: number
  loosened: number
  tightened: number
  /** The decision stayed, but another rule decided it. */
  rule_changed: number
  /** Live answers that came through approvals or grants, compared on the policy's decision. */
  via: { approval: number, grant: number }
  /** Live THROTTLEs of a full rate limit. */
  rate_limited: number
  /** Every cell with a count, live → candidate, in decision order. */
  matrix: Array<{ live: Decision, candidate: Decision, count: number }>
  /** Changed decisions grouped by the rules that decided before and after, most first. */
  changes_by_rule: Array<{ live_rule: string | null, candidate_rule: string | null, live: Decision, candidate: Decision, count: number }>
  tenants: Array<{ tenant_id: string, judged: number, changed: number }>
  topics: Array<{ topic: string, judged: number, changed: number }>
  examples: Array<{ live: Decision, candidate: Decision, jobs: ReplayExample[] }>
  fail_on: string[]
  /** The fail_on entries some change matched, with the counts that matched them. */
  failures: Array<{ fail_on: string, count: number }>
}

/** How many tenants and topics the report lists, most changed first. */
const TOP = 20

/** Parses `ALLOW>DENY`, `*>DENY`, `any-loosening`, `any-tightening` or `any`; throws naming the bad entry. */
export function parseFailOn (spec: string): FailOn[] {
  return spec.split(',').map((s) => s.trim()).filter((s) => s !== '').map((entry) => {
    if (entry === 'any-loosening' || entry === 'any-tightening' || entry === 'any') return { kind: entry }
    const m = /^([A-Z_]+|\*)>([A-Z_]+|\*)$/.exec(entry)
    const live = m?.[1]
    const candidate = m?.[2]
    if (live === undefined || candidate === undefined || !isDecisionOrAny(live) || !isDecisionOrAny(candidate)) {
      throw new Error(`fail-on ${JSON.stringify(entry)} is none of LIVE>CANDIDATE (decisions ${DECISIONS.join(', ')} or *), any-loosening, any-tightening, any`)
    }
    return { kind: 'cell', live, candidate }
  })
}

function isDecisionOrAny (s: string): s is Decision | '*' {
  return s === '*' || (DECISIONS as readonly string[]).includes(s)
}

export function formatFailOn (f: FailOn): string {
  return f.kind === 'cell' ? `${f.live}>${f.candidate}` : f.kind
}

/** Whether the change live → candidate is one `f` forbids (an unchanged decision never is). */
export function forbids (f: FailOn, live: Decision, candidate: Decision): boolean {
  if (live === candidate) return false
  switch (f.kind) {
    case 'any': return true
    case 'any-loosening': return RESTRICTIVENESS[candidate] < RESTRICTIVENESS[live]
    case 'any-tightening': return RESTRICTIVENESS[candidate] > RESTRICTIVENESS[live]
    case 'cell': return (f.live === '*' || f.live === live) && (f.candidate === '*' || f.candidate === candidate)
  }
}

interface Counts { judged: number, changed: number }

export class ReplayTally {
  private judged = 0
  private ruleChanged = 0
  private readonly via = { approval: 0, grant: 0 }
  private rateLimited = 0
  private readonly cells = new Map<string, number>()
  private readonly byRule = new Map<string, number>()
  private readonly tenants = new Map<string, Counts>()
  private readonly topics = new Map<string, Counts>()
  private readonly examples = new Map<string, ReplayExample[]>()

  /** `examplesPerCell`: how many jobs each changed cell keeps as examples (the first met). */
  constructor (private readonly examplesPerCell: number, private readonly failOn: readonly FailOn[] = []) {}

  get judgedSoFar (): number {
    return this.judged
  }

  add (d: ReplayedDecision): void {
    this.judged++
    const changed = d.live !== d.candidate
    const cell = `${d.live}>${d.candidate}`
    this.cells.set(cell, (this.cells.get(cell) ?? 0) + 1)
    if (d.via !== undefined) this.via[d.via]++
    if (d.rate_limited === true) this.rateLimited++
    bump(this.tenants, d.tenant_id, changed)
    bump(this.topics, d.topic, changed)
    if (!changed) {
      if (d.live_rule !== d.candidate_rule) this.ruleChanged++
      return
    }
    const ruleKey = JSON.stringify([d.live_rule, d.candidate_rule, d.live, d.candidate])
    this.byRule.set(ruleKey, (this.byRule.get(ruleKey) ?? 0) + 1)
    const kept = this.examples.get(cell) ?? []
    if (kept.length < this.examplesPerCell) {
      kept.push({ tenant_id: d.tenant_id, job_id: d.job_id, trace_id: d.trace_id, decision_id: d.decision_id, seq: d.seq, at: d.at, live_rule: d.live_rule, candidate_rule: d.candidate_rule })
      this.examples.set(cell, kept)
    }
  }

  report (): ReplayReport {
    const matrix: ReplayReport['matrix'] = []
    for (const live of DECISIONS) {
      for (const candidate of DECISIONS) {
        const count = this.cells.get(`${live}>${candidate}`)
        if (count !== undefined) matrix.push({ live, candidate, count })
      }
    }
    const changes = matrix.filter((c) => c.live !== c.candidate)
    const sum = (cells: typeof matrix): number => cells.reduce((n, c) => n + c.count, 0)
    return {
      judged: this.judged,
      changed: sum(changes),
      loosened: sum(changes.filter((c) => RESTRICTIVENESS[c.candidate] < RESTRICTIVENESS[c.live])),
      tightened: sum(changes.filter((c) => RESTRICTIVENESS[c.candidate] > RESTRICTIVENESS[c.live])),
      rule_changed: this.ruleChanged,
      via: { ...this.via },
      rate_limited: this.rateLimited,
      matrix,
      changes_by_rule: [...this.byRule].sort(([ka, a], [kb, b]) => b - a || (ka < kb ? -1 : 1)).map(([key, count]) => {
        const [liveRule, candidateRule, live, candidate] = JSON.parse(key) as [string | null, string | null, Decision, Decision]
        return { live_rule: liveRule, candidate_rule: candidateRule, live, candidate, count }
      }),
      tenants: top(this.tenants).map(([tenantId, c]) => ({ tenant_id: tenantId, ...c })),
      topics: top(this.topics).map(([topic, c]) => ({ topic, ...c })),
      examples: changes.map((c) => ({ live: c.live, candidate: c.candidate, jobs: this.examples.get(`${c.live}>${c.candidate}`) ?? [] })),
      fail_on: this.failOn.map(formatFailOn),
      failures: this.failOn.map((f) => ({ fail_on: formatFailOn(f), count: sum(changes.filter((c) => forbids(f, c.live, c.candidate))) })).filter((f) => f.count > 0)
    }
  }
}

function bump (map: Map<string, Counts>, key: string, changed: boolean): void {
  const c = map.get(key) ?? { judged: 0, changed: 0 }
  c.judged++
  if (changed) c.changed++
  map.set(key, c)
}

/** The most changed first, then the most judged, then by name: the same input lists the same way. */
function top (map: Map<string, Counts>): Array<[string, Counts]> {
  return [...map].sort(([ka, a], [kb, b]) => b.changed - a.changed || b.judged - a.judged || (ka < kb ? -1 : ka > kb ? 1 : 0)).slice(0, TOP)
}
