/**
 * Appends to the tenant audit logs, and what the AuditWriter asks about them (the head, a lost
 * commit's fate). Appends happen only through the AuditWriter, which owns the transaction and
 * the head lock; reads are in log-read.ts.
 */
import { GENESIS_HASH, type SealedRecord } from '../audit/chain.js'
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

// arbiter_append (migrations/0005, 0013) takes the columns as arrays in this order.
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
  const { rows } = await q.query<{ appended: string, xid: string }>(APPEND_SQL, [tenantId, last.seq, last.hash, from.seq, from.hash, ...columnArrays(records)], 'arbiter_append_records')
  return Number(rows[0].appended) === records.length ? rows[0].xid : undefined
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

// arbiter_file_group (migrations/0013) moves the head and files the records in their partition.
const APPEND_SQL = `select arbiter_file_group($1, $2, $3, $4, $5, ${COLUMNS.map(([, type], i) => `$${i + 6}::${type}[]`).join(', ')}) as appended,
  pg_current_xact_id()::text as xid`

/** `committed`, `aborted` or `in progress`; null once the server no longer knows the id. */
export async function transactionStatus (q: Queryable, xid: string): Promise<string | null> {
  const { rows } = await q.query<{ status: string | null }>('select pg_xact_status($1::xid8) as status', [xid])
  return rows[0].status
}

export async function getHead (q: Queryable, tenantId: string): Promise<{ seq: number, hash: string } | undefined> {
  const { rows } = await q.query<{ seq: number, hash: string }>('select seq::int as seq, hash from audit_heads where tenant_id = $1', [tenantId])
  return rows[0]
}
