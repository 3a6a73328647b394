/**
 * Queries on the tenant audit logs. Appends happen only through the AuditWriter, which owns the
 * transaction and the head lock; everything else here reads.
 */
import { GENESIS_HASH, type SealedRecord, type StoredRecord } from '../audit/chain.js'
import { TERMINAL_STATUSES } from '../domain/job-status.js'
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

/**
 * Takes the lock that serializes a log's transactions (approval transitions, job events) until
 * this transaction ends. Not the head row: appends need that only to move the head, at the end.
 */
export async function lockTransactions (q: Queryable, tenantId: string): Promise<void> {
  await q.query("select pg_advisory_xact_lock(hashtext('arbiter.log.' || current_schema() || '.' || $1))", [tenantId], 'arbiter_lock_transactions')
}

// arbiter_append (migrations/0005) takes the columns as arrays in this order.
const COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['tenant_id', 'text'], ['seq', 'bigint'], ['record_type', 'text'], ['at', 'timestamptz'], ['trace_id', 'text'],
  ['job_id', 'text'], ['decision_id', 'uuid'], ['topic', 'text'], ['decision', 'text'], ['rule_id', 'text'],
  ['job_hash', 'text'], ['status', 'text'], ['policy_snapshot', 'text'], ['record', 'text'], ['key_id', 'text'],
  ['signature', 'text'], ['prev_hash', 'text'], ['hash', 'text']
]

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
    typeof b.status === 'string' ? b.status : null,
    typeof b.policy_snapshot === 'string' ? b.policy_snapshot : null,
    r.canonical, r.keyId, r.mac, r.prevHash, r.hash
  ]
}

/**
 * Appends sealed records of one log and moves its head from `from`, in one statement; if another
 * transaction is moving the head, it waits for that one to end first. Returns the transaction
 * id, or undefined, appending nothing, when the head is not at `from` (another writer moved it,
 * or the group it was sealed on did not commit).
 * Columns travel as arrays, so the statement text is the same for every group size and is
 * prepared once per connection.
 */
export async function appendRecords (q: Queryable, tenantId: string, from: { seq: number, hash: string }, records: readonly SealedRecord[]): Promise<string | undefined> {
  const last = records[records.length - 1]
  const { rows: inserted } = await q.query<{ xid: string }>(APPEND_SQL, [tenantId, last.seq, last.hash, from.seq, from.hash, ...columnArrays(records)], 'arbiter_append_records')
  return inserted.length === records.length ? inserted[0].xid : undefined
}

/**
 * Appends a group sealed on `from` and commits it, in one statement that is its own (implicit)
 * transaction: one round trip instead of three (`arbiter_append`, migrations/0005). Returns
 * false, appending nothing, when the head is not at `from`. Throws, with nothing of it
 * committed, if its rows are not in within `budgetMs` of the statement reaching the server
 * (SQLSTATE AB001) or it waited longer than `waitMs` for the head (55P03), or on any other
 * error; see `appendFailedForSure` for which errors leave the outcome unknown.
 */
export async function appendAndCommit (q: Queryable, tenantId: string, from: { seq: number, hash: string }, records: readonly SealedRecord[], budgetMs: number, waitMs: number): Promise<boolean> {
  const last = records[records.length - 1]
  const ms = (x: number): number => Math.max(0, Math.floor(x))
  const { rows } = await q.query<{ appended: string }>(APPEND_COMMIT_SQL, [tenantId, last.seq, last.hash, from.seq, from.hash, ms(budgetMs), ms(waitMs), ...columnArrays(records)], 'arbiter_append_commit')
  return Number(rows[0].appended) === records.length
}

const APPEND_COMMIT_SQL = `select arbiter_append(${Array.from({ length: 7 + COLUMNS.length }, (_, i) => `$${i + 1}`).join(', ')}) as appended`

/**
 * Whether an error of `appendAndCommit` means the statement did not commit: the server reported
 * an ERROR, which aborts the statement's transaction. A FATAL or PANIC (a backend terminated, a
 * failed flush) may come after the commit, and an error without a severity (the socket closed,
 * a client timeout) is not the server's word: those leave the outcome unknown.
 */
export function appendFailedForSure (err: unknown): boolean {
  return (err as { severity?: unknown }).severity === 'ERROR'
}

/**
 * Whether the backend `pid` is still running a statement: false once it is idle or gone, or if
 * it is the one asking (the pool handed the same connection back).
 */
export async function backendBusy (q: Queryable, pid: number): Promise<boolean> {
  const { rows } = await q.query<{ busy: boolean }>(
    "select exists (select 1 from pg_stat_activity where pid = $1 and pid <> pg_backend_pid() and state is distinct from 'idle') as busy", [pid])
  return rows[0].busy
}

/** Whether the log holds the record `seq` with chained hash `hash` (a record's hash names it). */
export async function hasRecord (q: Queryable, tenantId: string, seq: number, hash: string): Promise<boolean> {
  const { rows } = await q.query('select 1 from audit_log where tenant_id = $1 and seq = $2 and hash = $3', [tenantId, seq, hash])
  return rows.length > 0
}

function columnArrays (records: readonly SealedRecord[]): unknown[][] {
  const rows = records.map(values)
  return COLUMNS.map((_, i) => rows.map((r) => r[i]))
}

// The head row is chosen by tenant alone and the guard is evaluated on it once it is locked: a
// group appended onto a head that another transaction is still moving waits for that commit and
// then compares with the head it left (a WHERE on seq and hash would be judged on the version
// before, skip the row and refuse at once). A wrong head is left as it was.
const APPEND_SQL = `with moved as (
  update audit_heads
     set seq = case when seq = $4 and hash = $5 then $2 else seq end,
         hash = case when seq = $4 and hash = $5 then $3 else hash end
   where tenant_id = $1
  returning seq = $2 and hash = $3 as ok
)
insert into audit_log (${COLUMNS.map(([name]) => name).join(', ')})
select * from unnest(${COLUMNS.map(([, type], i) => `$${i + 6}::${type}[]`).join(', ')})
where exists (select 1 from moved where ok)
returning pg_current_xact_id()::text as xid`

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

/** `committed`, `aborted` or `in progress`; null once the server no longer knows the id. */
export async function transactionStatus (q: Queryable, xid: string): Promise<string | null> {
  const { rows } = await q.query<{ status: string | null }>('select pg_xact_status($1::xid8) as status', [xid])
  return rows[0].status
}

export async function getHead (q: Queryable, tenantId: string): Promise<{ seq: number, hash: string } | undefined> {
  const { rows } = await q.query<{ seq: number, hash: string }>('select seq::int as seq, hash from audit_heads where tenant_id = $1', [tenantId])
  return rows[0]
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
