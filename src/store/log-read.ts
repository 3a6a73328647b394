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

/** The newest decision of a job, the agent it acts for, and whether a terminal status was already reported for it. */
export async function jobState (q: Queryable, tenantId: string, jobId: string): Promise<{ decisionId: string, traceId: string, decision: string, principalId: string | null, terminal: string | null } | undefined> {
  const { rows } = await q.query<{ decision_id: string, trace_id: string, decision: string, principal_id: string | null, terminal: string | null }>(
    `select d.decision_id, d.trace_id, d.decision, d.record::jsonb -> 'body' -> 'job' ->> 'principal_id' as principal_id,
       (select e.status from audit_log e
         where e.tenant_id = $1 and e.job_id = $2 and e.record_type = 'job.event' and e.status = any($3)
         order by e.seq limit 1) as terminal
     from audit_log d
     where d.tenant_id = $1 and d.job_id = $2 and d.record_type = 'decision'
     order by d.seq desc limit 1`,
    [tenantId, jobId, TERMINAL_STATUSES]
  )
  const r = rows[0]
  return r === undefined ? undefined : { decisionId: r.decision_id, traceId: r.trace_id, decision: r.decision, principalId: r.principal_id, terminal: r.terminal }
}

export interface DecisionFilter {
  jobId?: string
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

/** Decision records matching every given filter, newest first. */
export async function listDecisions (q: Queryable, f: DecisionFilter, limit: number): Promise<LogRow[]> {
  const where = ["record_type = 'decision'"]
  const params: unknown[] = []
  const add = (sql: string, value: unknown): void => {
    params.push(value)
    where.push(sql.replaceAll('?', `$${params.length}`))
  }
  if (f.jobId !== undefined) add('job_id = ?', f.jobId)
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

/** The first and last seq (up to `end`) of a log's records within a time window and trace. */
export async function matchingRange (q: Queryable, log: string, end: number, f: { since: string | null, until: string | null, trace_id: string | null }): Promise<{ first: number, last: number } | undefined> {
  const { rows } = await q.query<{ first: number | null, last: number | null }>(
    `select min(seq)::int as first, max(seq)::int as last from audit_log
     where tenant_id = $1 and seq <= $2 and ($3::timestamptz is null or at >= $3) and ($4::timestamptz is null or at < $4)
       and ($5::text is null or trace_id = $5)`,
    [log, end, f.since, f.until, f.trace_id]
  )
  const { first, last } = rows[0]
  return first === null || last === null ? undefined : { first, last }
}
