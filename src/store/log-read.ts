/**
 * Reads of the tenant audit logs: records by log and seq, by decision, trace or filter, and what
 * an export needs to know of a log. Appends are in log-append.ts.
 */
import type { StoredRecord } from '../audit/chain.js'
import { TERMINAL_STATUSES } from '../domain/job-status.js'
import type { Queryable } from './db.js'

export type LogRow = StoredRecord & {
  record_type: string
  at: Date | string
  trace_id: string
  job_id: string | null
}

const SELECT = 'select tenant_id, seq::int as seq, record_type, at, trace_id, job_id, record, key_id, signature, prev_hash, hash from audit_log'

/** Records of one log with seq in [from, to], in order, at most `limit`. */
export async function readLog (q: Queryable, tenantId: string, from: number, to: number, limit: number): Promise<LogRow[]> {
  const { rows } = await q.query<LogRow>(`${SELECT} where tenant_id = $1 and seq >= $2 and seq <= $3 order by seq limit $4`, [tenantId, from, to, limit])
  return rows
}

export async function getDecisionRecord (q: Queryable, decisionId: string): Promise<LogRow | undefined> {
  const { rows } = await q.query<LogRow>(`${SELECT} where decision_id = $1`, [decisionId])
  return rows[0]
}

/** A trace's records in time order; `tenants` (when given) limits them to those logs. */
export async function listTrace (q: Queryable, traceId: string, limit: number, tenants?: readonly string[]): Promise<LogRow[]> {
  const { rows } = tenants === undefined
    ? await q.query<LogRow>(`${SELECT} where trace_id = $1 order by at, tenant_id, seq limit $2`, [traceId, limit])
    : await q.query<LogRow>(`${SELECT} where trace_id = $1 and tenant_id = any($3) order by at, tenant_id, seq limit $2`, [traceId, limit, tenants])
  return rows
}

export async function countRecords (q: Queryable, type?: string): Promise<number> {
  const { rows } = type === undefined
    ? await q.query<{ n: number }>('select count(*)::int as n from audit_log')
    : await q.query<{ n: number }>('select count(*)::int as n from audit_log where record_type = $1', [type])
  return rows[0].n
}

/** A job as its newest decision left it: what it was, whether its ALLOW has been spent, and whether the job ended. */
export interface JobState {
  decisionId: string
  traceId: string
  decision: string
  principalId: string | null
  /** The ALLOW came from an approval or a grant, and so covers one dispatch. */
  singleUse: boolean
  /** How many times the job was reported DISPATCHED since that decision. */
  dispatchesSince: number
  terminal: string | null
}

/** The newest decision of a job (as answered: a voided one is the DENY its caller got), the agent it acts for, and whether a terminal status was already reported for it. */
export async function jobState (q: Queryable, tenantId: string, jobId: string): Promise<JobState | undefined> {
  const { rows } = await q.query<{ decision_id: string, trace_id: string, decision: string, principal_id: string | null, single_use: boolean, voided: boolean, dispatches: number, terminal: string | null }>(
    `select d.decision_id, d.trace_id, d.decision, b.body -> 'job' ->> 'principal_id' as principal_id,
       (b.body ? 'approval_ref' or b.body ? 'grant_ref') as single_use,
       exists (select 1 from audit_log v
         where v.tenant_id = $1 and v.job_id = $2 and v.record_type = 'decision.voided'
           and (v.record::jsonb -> 'body' ->> 'decision_id') = d.decision_id::text) as voided,
       (select count(*)::int from audit_log e
         where e.tenant_id = $1 and e.job_id = $2 and e.record_type = 'job.event' and e.status = 'DISPATCHED' and e.seq > d.seq) as dispatches,
       (select e.status from audit_log e
         where e.tenant_id = $1 and e.job_id = $2 and e.record_type = 'job.event' and e.status = any($3)
         order by e.seq limit 1) as terminal
     from audit_log d, lateral (select d.record::jsonb -> 'body' as body) b
     where d.tenant_id = $1 and d.job_id = $2 and d.record_type = 'decision'
     order by d.seq desc limit 1`,
    [tenantId, jobId, TERMINAL_STATUSES]
  )
  const r = rows[0]
  return r === undefined
    ? undefined
    // A decision voided for committing after its caller was answered 503 stands as the DENY it was answered.
    : { decisionId: r.decision_id, traceId: r.trace_id, decision: r.voided ? 'DENY' : r.decision, principalId: r.principal_id, singleUse: r.single_use && !r.voided, dispatchesSince: r.dispatches, terminal: r.terminal }
}

/** Every record of one job, in log order, at most `limit`. */
export async function listJobRecords (q: Queryable, tenantId: string, jobId: string, limit: number): Promise<LogRow[]> {
  const { rows } = await q.query<LogRow>(`${SELECT} where job_id = $1 and tenant_id = $2 order by seq limit $3`, [jobId, tenantId, limit])
  return rows
}

/**
 * The other traces holding records of the jobs that have records in `traceId` (a caller that
 * named its own trace for some checks of a job splits its story in two); `tenants` as in listTrace.
 */
export async function linkedTraces (q: Queryable, traceId: string, tenants?: readonly string[]): Promise<string[]> {
  const { rows } = await q.query<{ trace_id: string }>(
    `select distinct o.trace_id from audit_log o
     where (o.job_id, o.tenant_id) in (
       select distinct t.job_id, t.tenant_id from audit_log t
       where t.trace_id = $1 and t.job_id is not null and ($2::text[] is null or t.tenant_id = any($2)))
       and o.trace_id <> $1
     order by o.trace_id limit 100`,
    [traceId, tenants ?? null]
  )
  return rows.map((r) => r.trace_id)
}

export interface RecordFilter {
  jobId?: string
  /** The job's session (decisions only: the session is a field of the job). */
  sessionId?: string
  tenantId?: string
  /** Only these tenants' logs (the caller's scope). */
  tenants?: readonly string[]
  topic?: string
  decision?: string
  ruleId?: string
  since?: string
  until?: string
  /** Continue after this (at, tenant, seq), newest first. */
  after?: { at: string, tenantId: string, seq: number }
}

/** Records of one type (`decision`, `job.violation`) matching every given filter, newest first. */
export async function listRecords (q: Queryable, type: 'decision' | 'job.violation', f: RecordFilter, limit: number): Promise<LogRow[]> {
  // The type is written into the statement so the planner can use the type's partial index.
  const where = [`record_type = '${type === 'decision' ? 'decision' : 'job.violation'}'`]
  const params: unknown[] = []
  const add = (sql: string, value: unknown): void => {
    params.push(value)
    where.push(sql.replaceAll('?', `$${params.length}`))
  }
  if (f.jobId !== undefined) add('job_id = ?', f.jobId)
  if (f.sessionId !== undefined) add("(record::jsonb -> 'body' -> 'job' ->> 'session_id') = ?", f.sessionId)
  if (f.tenantId !== undefined) add('tenant_id = ?', f.tenantId)
  if (f.tenants !== undefined) add('tenant_id = any(?)', f.tenants)
  if (f.topic !== undefined) add('topic = ?', f.topic)
  if (f.decision !== undefined) add('decision = ?', f.decision)
  if (f.ruleId !== undefined) add('rule_id = ?', f.ruleId)
  if (f.since !== undefined) add('at >= ?', f.since)
  if (f.until !== undefined) add('at < ?', f.until)
  if (f.after !== undefined) {
    params.push(f.after.at, f.after.tenantId, f.after.seq)
    const n = params.length
    where.push(`(at, tenant_id, seq) < ($${n - 2}::timestamptz, $${n - 1}, $${n})`)
  }
  params.push(limit)
  const { rows } = await q.query<LogRow>(`${SELECT} where ${where.join(' and ')} order by at desc, tenant_id desc, seq desc limit $${params.length}`, params)
  return rows
}

/** Every log there is a trace of: records, a head or a checkpoint (a log emptied by tampering too). */
export async function logIds (q: Queryable, tenant: string | null): Promise<string[]> {
  if (tenant !== null) return [tenant]
  const { rows } = await q.query<{ tenant_id: string }>(
    'select tenant_id from audit_log union select tenant_id from audit_heads union select tenant_id from audit_checkpoints order by tenant_id'
  )
  return rows.map((r) => r.tenant_id)
}

export async function lastSeq (q: Queryable, log: string): Promise<number> {
  const { rows } = await q.query<{ seq: number }>('select coalesce(max(seq), 0)::int as seq from audit_log where tenant_id = $1', [log])
  return rows[0].seq
}

/** The first and last seq (up to `end`) of a log's records within a time window, trace, job and session (as matchesFilter in audit/evidence.ts). */
export async function matchingRange (q: Queryable, log: string, end: number, f: { since: string | null, until: string | null, trace_id: string | null, job_id?: string | null, session_id?: string | null }): Promise<{ first: number, last: number } | undefined> {
  const { rows } = await q.query<{ first: number | null, last: number | null }>(
    `select min(seq)::int as first, max(seq)::int as last from audit_log
     where tenant_id = $1 and seq <= $2 and ($3::timestamptz is null or at >= $3) and ($4::timestamptz is null or at < $4)
       and ($5::text is null or trace_id = $5) and ($6::text is null or job_id = $6)
       and ($7::text is null or (record_type = 'decision' and (record::jsonb -> 'body' -> 'job' ->> 'session_id') = $7))`,
    [log, end, f.since, f.until, f.trace_id, f.job_id ?? null, f.session_id ?? null]
  )
  const { first, last } = rows[0]
  return first === null || last === null ? undefined : { first, last }
}

/** A decision record as a replay reads it: where it is, and its signed text. */
export interface DecisionPageRow {
  tenant_id: string
  seq: number
  trace_id: string
  /** The record's time as the server prints it: exact, for the next page's bound. */
  at_key: string
  record: string
}

export interface DecisionWindow {
  since?: string
  until?: string
  tenantId?: string
  tenants?: readonly string[]
}

/** Records before, at or before, or exactly at a time, as printed in `at_key`. */
export interface TimeBound { op: '<' | '<=' | '=', atKey: string }

const TIME_BOUNDS: Record<TimeBound['op'], string> = { '<': 'at < $5', '<=': 'at <= $5', '=': 'at = $5' }

/**
 * Up to `limit` decision records of the window within `bound` (all of them when `limit` is
 * undefined), newest first: one range of the decisions index. Records of one time come in no
 * set order, so a caller paging by time must not split a time between pages (replayer.ts).
 */
export async function decisionPage (q: Queryable, f: DecisionWindow, bound: TimeBound | undefined, limit: number | undefined): Promise<DecisionPageRow[]> {
  const { rows } = await q.query<DecisionPageRow>(
    `select tenant_id, seq::int as seq, trace_id, at::text as at_key, record from audit_log
     where record_type = 'decision'
       and ($1::timestamptz is null or at >= $1) and ($2::timestamptz is null or at < $2)
       and ($3::text is null or tenant_id = $3) and ($4::text[] is null or tenant_id = any($4))
       and ${bound === undefined ? '$5::timestamptz is null' : TIME_BOUNDS[bound.op]}
     order by at desc limit $6`,
    [f.since ?? null, f.until ?? null, f.tenantId ?? null, f.tenants ?? null, bound?.atKey ?? null, limit ?? null]
  )
  return rows
}
