/**
 * Replays recorded decisions under a candidate policy: reads the decision records of a window a
 * page at a time (never the whole log), evaluates each recorded job under the candidate, and
 * counts the differences (tally.ts). Read-only. Evaluation runs in slices of a few milliseconds
 * with the event loop let go in between, so a replay inside the service never holds up a check.
 */
import { performance } from 'node:perf_hooks'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { compilePolicy, evaluate, type CompiledPolicy, type Decision, type Job } from '../policy/index.js'
import type { Queryable } from '../store/db.js'
import { decisionPage, type DecisionPageRow, type DecisionWindow } from '../store/log-read.js'
import { getSnapshot } from '../store/snapshots.js'
import { ReplayTally, type FailOn, type ReplayedDecision, type ReplayReport } from './tally.js'

export interface ReplayWindow {
  /** ISO timestamps; records at `since` or later and before `until`. */
  since?: string
  until?: string
  tenantId?: string
  /** Only these tenants' logs (the caller's scope); undefined is every tenant. */
  tenants?: readonly string[]
}

export interface ReplayOptions extends ReplayWindow {
  candidate: CompiledPolicy
  examplesPerCell?: number
  failOn?: readonly FailOn[]
  /** performance.now() by which to stop; what was judged by then is reported, marked incomplete. */
  deadline?: number
  signal?: AbortSignal
  /** Told the count judged so far after each page. */
  onProgress?: (judged: number) => void
  /** Records read per query. */
  pageSize?: number
}

export interface ReplayResult extends ReplayReport {
  candidate_snapshot: string
  /** The live snapshots the replayed decisions were made under, with how many each. */
  live_snapshots: Array<{ snapshot_id: string, count: number }>
  /** False when the deadline or a cancel stopped it before the window's end. */
  complete: boolean
  /** The oldest record judged, when the replay stopped early: the window it covered starts there. */
  judged_from: string | null
}

/** What a decision record says the live policy decided. */
interface RecordedDecision {
  decision_id: string
  job: Job
  decision: Decision
  rule_id: string | null
  policy_decision?: Decision
  policy_snapshot: string
  retry_after_ms?: number
  approval_ref?: string
  grant_ref?: string
}

/** Each slice of evaluation gives the loop back after this long. */
const SLICE_MS = 4

export async function replayDecisions (q: Queryable, opts: ReplayOptions): Promise<ReplayResult> {
  const tally = new ReplayTally(opts.examplesPerCell ?? 5, opts.failOn)
  const live = new LiveSnapshots(q)
  const pageSize = opts.pageSize ?? 1000
  let complete = !stopped(opts)
  let oldest: string | null = null
  const pages = complete ? new Pages(q, { since: opts.since, until: opts.until, tenantId: opts.tenantId, tenants: opts.tenants }, pageSize) : undefined
  for (let rows = await pages?.next(); rows !== undefined; rows = await pages?.next()) {
    for (let i = 0; i < rows.length;) {
      const sliceEnd = performance.now() + SLICE_MS
      for (; i < rows.length && performance.now() < sliceEnd; i++) {
        const record = JSON.parse(rows[i].record) as { at: string, body: RecordedDecision }
        if (!live.has(record.body.policy_snapshot)) await live.load(record.body.policy_snapshot)
        tally.add(replayOne(rows[i], record.at, record.body, opts.candidate, live))
        oldest = record.at
      }
      if (i < rows.length) await yieldToLoop()
    }
    opts.onProgress?.(tally.judgedSoFar)
    if (pages?.done === false && stopped(opts)) {
      complete = false
      pages.abandon()
      break
    }
  }
  return {
    candidate_snapshot: opts.candidate.snapshotId,
    live_snapshots: live.counts(),
    complete,
    judged_from: complete ? null : oldest,
    ...tally.report()
  }
}

/**
 * The window's decision records, newest first, a page at a time, the next page read while the
 * caller judges this one. Pages are bounded by time: a full page gives back its last time's
 * records, which open the next page, so records of equal time are never split or repeated.
 */
class Pages {
  private pending: Promise<DecisionPageRow[]> | undefined

  constructor (private readonly q: Queryable, private readonly filter: DecisionWindow, private readonly size: number) {
    this.pending = decisionPage(q, filter, undefined, size)
  }

  /** Whether the window's end has been read. */
  get done (): boolean {
    return this.pending === undefined
  }

  /** The next page, or undefined at the window's end. */
  async next (): Promise<DecisionPageRow[] | undefined> {
    if (this.pending === undefined) return undefined
    const rows = await this.pending
    this.pending = undefined
    if (rows.length < this.size) return rows.length === 0 ? undefined : rows
    const last = rows[rows.length - 1].at_key
    let keep = rows.length
    while (keep > 0 && rows[keep - 1].at_key === last) keep--
    if (keep > 0) {
      this.pending = decisionPage(this.q, this.filter, { op: '<=', atKey: last }, this.size)
      return rows.slice(0, keep)
    }
    // A whole page of one time: every record of that time at once, then on from before it.
    const all = await decisionPage(this.q, this.filter, { op: '=', atKey: last }, undefined)
    this.pending = decisionPage(this.q, this.filter, { op: '<', atKey: last }, this.size)
    return all
  }

  /** Stops reading; a page in flight is dropped. */
  abandon (): void {
    this.pending?.catch(() => {})
    this.pending = undefined
  }
}

function stopped (opts: ReplayOptions): boolean {
  return opts.signal?.aborted === true || (opts.deadline !== undefined && performance.now() >= opts.deadline)
}

/** One decision record (`row`, its time and body parsed), judged again; its live snapshot is loaded. */
function replayOne (row: DecisionPageRow, at: string, body: RecordedDecision, candidate: CompiledPolicy, live: LiveSnapshots): ReplayedDecision {
  // The policy's own decision: an approval or grant changes the answer, not what the policy asked.
  const liveDecision = body.policy_decision ?? body.decision
  const limited = liveDecision === 'THROTTLE' && body.rule_id !== null && live.isRateLimited(body.policy_snapshot, body.rule_id)
  live.count(body.policy_snapshot)
  const ev = limited
    // The count is not replayed: a limit that was full is taken as full under the candidate too.
    ? evaluate(candidate, body.job, { exceeded: new Map([[body.rule_id as string, body.retry_after_ms ?? 0]]) })
    : evaluate(candidate, body.job)
  return {
    tenant_id: row.tenant_id,
    seq: row.seq,
    at,
    trace_id: row.trace_id,
    job_id: body.job.job_id,
    decision_id: body.decision_id,
    topic: body.job.topic,
    live: liveDecision,
    live_rule: body.rule_id,
    candidate: ev.decision,
    candidate_rule: ev.rule_id,
    ...(body.approval_ref !== undefined ? { via: 'approval' as const } : body.grant_ref !== undefined ? { via: 'grant' as const } : {}),
    ...(limited ? { rate_limited: true } : {})
  }
}

/** The live policies the records name, compiled once each, to tell a rate limit's THROTTLE from a rule's. */
class LiveSnapshots {
  /** null: the snapshot is not stored, or no longer compiles. */
  private readonly compiled = new Map<string, CompiledPolicy | null>()
  private readonly seen = new Map<string, number>()

  constructor (private readonly q: Queryable) {}

  count (snapshotId: string): void {
    this.seen.set(snapshotId, (this.seen.get(snapshotId) ?? 0) + 1)
  }

  counts (): Array<{ snapshot_id: string, count: number }> {
    return [...this.seen].map(([id, count]) => ({ snapshot_id: id, count })).sort((a, b) => b.count - a.count || (a.snapshot_id < b.snapshot_id ? -1 : 1))
  }

  has (snapshotId: string): boolean {
    return this.compiled.has(snapshotId)
  }

  isRateLimited (snapshotId: string, ruleId: string): boolean {
    return this.compiled.get(snapshotId)?.rules.some((r) => r.id === ruleId && r.rateLimit !== undefined) ?? false
  }

  async load (snapshotId: string): Promise<void> {
    const row = await getSnapshot(this.q, snapshotId)
    const result = row === undefined ? undefined : compilePolicy(row.sources)
    this.compiled.set(snapshotId, result?.ok === true ? result.policy : null)
  }
}
