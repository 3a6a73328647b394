/**
 * A story told from the log: the records of a trace or of a job, in order, each saying what it
 * is about, and the jobs they concern with their terminal status said once. Pure: the records
 * are read elsewhere (store/log-read.ts).
 */
import type { ParsedRecord } from '../audit/chain.js'
import { TERMINAL_STATUSES, type JobStatus } from '../domain/job-status.js'
import type { LogRow } from '../store/log-read.js'
import { jobTraceId } from './trace.js'

/** One record as a timeline shows it: what every record has, and what its kind says. */
export interface TimelineEntry {
  tenant_id: string
  seq: number
  at: string
  type: string
  actor: ParsedRecord['actor']
  trace_id: string
  job_id: string | null
  decision: string | null
  rule_id: string | null
  reason: string | null
  status: string | null
  approval_state: string | null
  verdict: string | null
  /** Only where the record says it: */
  decision_id?: string
  constraints?: unknown
  approval_id?: string
  vote?: string
  note?: string | null
  grant_id?: string
  uses?: number
  detail?: string
  findings?: unknown
  kind?: string
}

/** A job a timeline concerns: its own trace, its terminal status (null while it has none), its violations. */
export interface TimelineJob {
  tenant_id: string
  job_id: string
  trace_id: string
  terminal_status: string | null
  violations: number
}

export interface Timeline {
  jobs: TimelineJob[]
  entries: TimelineEntry[]
}

function str (v: unknown): string | null {
  return typeof v === 'string' ? v : null
}

/** The fields of `body` that say what a record of this type is about, each only when present. */
function about (type: string, b: Record<string, unknown>): Partial<TimelineEntry> {
  const pick: Partial<TimelineEntry> = {}
  if (typeof b.decision_id === 'string') pick.decision_id = b.decision_id
  if (b.constraints !== undefined) pick.constraints = b.constraints
  if (typeof b.approval_id === 'string') pick.approval_id = b.approval_id
  if (typeof b.vote === 'string') pick.vote = b.vote
  if (type === 'approval.vote') pick.note = str(b.note)
  if (typeof b.grant_id === 'string') pick.grant_id = b.grant_id
  else if (typeof b.grant_ref === 'string') pick.grant_id = b.grant_ref
  if (type === 'grant.used' && typeof b.uses === 'number') pick.uses = b.uses
  if (typeof b.detail === 'string') pick.detail = b.detail
  if (b.findings !== undefined) pick.findings = b.findings
  if (typeof b.kind === 'string') pick.kind = b.kind
  if (pick.approval_id === undefined && typeof b.approval_ref === 'string') pick.approval_id = b.approval_ref
  return pick
}

/** Why a record happened: a decision's reason, an approval's resolution or end, a violation's. */
function reasonOf (b: Record<string, unknown>): string | null {
  const resolution = b.resolution as Record<string, unknown> | undefined
  return str(b.reason) ?? str(resolution?.reason)
}

export function timelineEntry (row: LogRow, rec: ParsedRecord): TimelineEntry {
  const b = rec.body
  return {
    tenant_id: row.tenant_id,
    seq: row.seq,
    at: rec.at,
    type: rec.type,
    actor: rec.actor,
    trace_id: rec.trace_id,
    job_id: rec.job_id,
    decision: str(b.decision),
    rule_id: str(b.rule_id),
    reason: reasonOf(b),
    status: str(b.status),
    approval_state: str(b.approval_state),
    verdict: str(b.verdict),
    ...about(rec.type, b)
  }
}

/** The timeline of `rows` (in the order to show them). */
export function timelineOf (rows: readonly LogRow[]): Timeline {
  const jobs = new Map<string, TimelineJob>()
  const entries = rows.map((row) => {
    const rec = JSON.parse(row.record) as ParsedRecord
    if (rec.job_id !== null) {
      const key = `${row.tenant_id}\n${rec.job_id}`
      let job = jobs.get(key)
      if (job === undefined) {
        job = { tenant_id: row.tenant_id, job_id: rec.job_id, trace_id: jobTraceId(row.tenant_id, rec.job_id), terminal_status: null, violations: 0 }
        jobs.set(key, job)
      }
      const status = str(rec.body.status)
      if (rec.type === 'job.event' && job.terminal_status === null && status !== null && TERMINAL_STATUSES.includes(status as JobStatus)) job.terminal_status = status
      if (rec.type === 'job.violation') job.violations++
    }
    return timelineEntry(row, rec)
  })
  return { jobs: [...jobs.values()], entries }
}

/** Where a job stands, from its whole timeline (in log order). */
export interface JobStanding {
  decision: { decision_id: string, decision: string, rule_id: string | null, reason: string | null, at: string, trace_id: string } | null
  approval: { approval_id: string, approval_state: string | null, at: string } | null
  dispatch_status: string | null
  terminal_status: string | null
  violations: number
}

export function standingOf (timeline: Timeline): JobStanding {
  let decision: JobStanding['decision'] = null
  let approval: JobStanding['approval'] = null
  let dispatch: string | null = null
  for (const e of timeline.entries) {
    if (e.type === 'decision') decision = { decision_id: e.decision_id ?? '', decision: e.decision ?? '', rule_id: e.rule_id, reason: e.reason, at: e.at, trace_id: e.trace_id }
    // A decision that committed after its caller was answered 503 stands as the DENY it was answered.
    if (e.type === 'decision.voided' && decision !== null && decision.decision_id === e.decision_id) decision = { ...decision, decision: 'DENY', reason: e.reason }
    if (e.approval_id !== undefined && e.approval_state !== null) approval = { approval_id: e.approval_id, approval_state: e.approval_state, at: e.at }
    if (e.type === 'job.event' && e.status !== null && !TERMINAL_STATUSES.includes(e.status as JobStatus)) dispatch = e.status
  }
  const job = timeline.jobs[0]
  return { decision, approval, dispatch_status: dispatch, terminal_status: job?.terminal_status ?? null, violations: job?.violations ?? 0 }
}
