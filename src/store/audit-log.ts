/**
 * Queries on the tenant audit logs. Appends happen only through the AuditWriter, which owns the
 * transaction and the head lock; everything else here reads.
 */
import { GENESIS_HASH, type SealedRecord, type StoredRecord } from '../audit/chain.js'
import type { Queryable } from './db.js'

/** Locks the log's head row (creating it for a new log) and returns it. */
export async function lockHead (q: Queryable, tenantId: string): Promise<{ seq: number, hash: string }> {
  const { rows } = await q.query<{ seq: string, hash: string }>(
    `insert into audit_heads (tenant_id, seq, hash) values ($1, 0, $2)
     on conflict (tenant_id) do update set tenant_id = excluded.tenant_id
     returning seq::text as seq, hash`,
    [tenantId, GENESIS_HASH]
  )
  return { seq: Number(rows[0].seq), hash: rows[0].hash }
}

const COLUMNS = ['tenant_id', 'seq', 'record_type', 'at', 'trace_id', 'job_id', 'decision_id', 'topic', 'decision', 'rule_id', 'job_hash', 'policy_snapshot', 'record', 'key_id', 'signature', 'prev_hash', 'hash'] as const

function values (r: SealedRecord): unknown[] {
  const e = r.entry
  const b = e.body as Record<string, unknown> & { job?: { topic?: string } }
  const isDecision = e.type === 'decision'
  return [
    e.tenant_id, r.seq, e.type, e.at, e.trace_id, e.job_id,
    isDecision ? b.decision_id : null,
    isDecision ? b.job?.topic ?? null : null,
    typeof b.decision === 'string' ? b.decision : null,
    typeof b.rule_id === 'string' ? b.rule_id : null,
    typeof b.job_hash === 'string' ? b.job_hash : null,
    typeof b.policy_snapshot === 'string' ? b.policy_snapshot : null,
    r.canonical, r.keyId, r.mac, r.prevHash, r.hash
  ]
}

/** Appends sealed records of one log and moves its head, in one statement. */
export async function appendRecords (q: Queryable, tenantId: string, records: readonly SealedRecord[]): Promise<void> {
  const params: unknown[] = [tenantId, records[records.length - 1].seq, records[records.length - 1].hash]
  const tuples = records.map((r) => {
    const start = params.length
    params.push(...values(r))
    return `(${COLUMNS.map((_, i) => `$${start + i + 1}`).join(', ')})`
  })
  await q.query(
    `with appended as (insert into audit_log (${COLUMNS.join(', ')}) values ${tuples.join(', ')})
     update audit_heads set seq = $2, hash = $3 where tenant_id = $1`,
    params
  )
}

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

export async function getHead (q: Queryable, tenantId: string): Promise<{ seq: number, hash: string } | undefined> {
  const { rows } = await q.query<{ seq: number, hash: string }>('select seq::int as seq, hash from audit_heads where tenant_id = $1', [tenantId])
  return rows[0]
}

export async function listLogs (q: Queryable): Promise<string[]> {
  const { rows } = await q.query<{ tenant_id: string }>('select tenant_id from audit_heads order by tenant_id')
  return rows.map((r) => r.tenant_id)
}

export async function getDecisionRecord (q: Queryable, decisionId: string): Promise<LogRow | undefined> {
  const { rows } = await q.query<LogRow>(`${SELECT} where decision_id = $1`, [decisionId])
  return rows[0]
}

export async function listTrace (q: Queryable, traceId: string, limit: number): Promise<LogRow[]> {
  const { rows } = await q.query<LogRow>(`${SELECT} where trace_id = $1 order by at, tenant_id, seq limit $2`, [traceId, limit])
  return rows
}

export async function countRecords (q: Queryable, type?: string): Promise<number> {
  const { rows } = type === undefined
    ? await q.query<{ n: number }>('select count(*)::int as n from audit_log')
    : await q.query<{ n: number }>('select count(*)::int as n from audit_log where record_type = $1', [type])
  return rows[0].n
}
