/**
 * Queries on approvals and their votes. Every change runs inside a writer transaction of the
 * tenant's log (see approvals/service.ts), so it commits with the records that tell of it.
 */
import type { Actor } from '../audit/chain.js'
import type { ApprovalStatus } from '../domain/approval-status.js'
import type { Constraints } from '../policy/types.js'
import type { Queryable } from './db.js'
import { usableGrants } from './grants.js'

export interface ApprovalRow {
  approval_id: string
  ordinal: number
  tenant_id: string
  job_id: string
  job_hash: string
  /** The canonical JSON of the job as hashed. */
  job: string
  topic: string
  trace_id: string
  status: ApprovalStatus
  rule_id: string | null
  reason: string
  constraints: Constraints | null
  policy_snapshot: string
  requested_by: Actor
  requester_principal: string
  agent_principal: string | null
  approvals_required: number
  approvals_received: number
  approver_roles: string[][]
  dispatch_window_sec: number
  requested_decision_id: string
  created_at: Date
  expires_at: Date
  approved_at: Date | null
  dispatch_by: Date | null
  resolved_at: Date | null
  resolution: Record<string, unknown> | null
  /** The job's session, if it has one. */
  session_id: string | null
  /** Whether it waits its turn behind the session's other single-flight approvals. */
  single_flight: boolean
  /** Its time with reviewers: a QUEUED approval's clock starts at its turn (null for approvals from before single-flight). */
  ttl_sec: number | null
}

export type NewApproval = Omit<ApprovalRow, 'ordinal' | 'approvals_received' | 'approved_at' | 'dispatch_by' | 'resolved_at' | 'resolution' | 'status'> & {
  status: 'PENDING' | 'QUEUED'
}

export interface VoteRow {
  principal_id: string
  key_id: string | null
  vote: 'APPROVE' | 'DENY'
  note: string | null
  at: Date
}

const COLUMNS = `approval_id, ordinal::int as ordinal, tenant_id, job_id, job_hash, job, topic, trace_id, status, rule_id, reason,
  constraints, policy_snapshot, requested_by, requester_principal, agent_principal, approvals_required, approvals_received,
  approver_roles, dispatch_window_sec, requested_decision_id, created_at, expires_at, approved_at, dispatch_by, resolved_at, resolution,
  session_id, single_flight, ttl_sec`

/** The latest approval of a job, row-locked for the caller's transaction. */
export async function lockLatestApproval (q: Queryable, tenantId: string, jobId: string): Promise<ApprovalRow | undefined> {
  const { rows } = await q.query<ApprovalRow>(
    `select ${COLUMNS} from approvals where tenant_id = $1 and job_id = $2 order by ordinal desc limit 1 for update`,
    [tenantId, jobId]
  )
  return rows[0]
}

export async function getLatestApproval (q: Queryable, tenantId: string, jobId: string): Promise<ApprovalRow | undefined> {
  const { rows } = await q.query<ApprovalRow>(`select ${COLUMNS} from approvals where tenant_id = $1 and job_id = $2 order by ordinal desc limit 1`, [tenantId, jobId])
  return rows[0]
}

/**
 * The status of each of these approvals, in one statement however many there are: what the
 * instance's waiters poll (approvals/waiters.ts). An id with no row is left out.
 */
export async function approvalStatuses (q: Queryable, approvalIds: readonly string[]): Promise<Map<string, ApprovalStatus>> {
  const { rows } = await q.query<{ approval_id: string, status: ApprovalStatus }>(
    'select approval_id, status from approvals where approval_id = any($1::uuid[])',
    [approvalIds],
    'arbiter_approval_statuses'
  )
  return new Map(rows.map((r) => [r.approval_id, r.status]))
}

/** Whether the job has a live approval: queued, pending or approved (read outside any lock). */
export async function hasLiveApproval (q: Queryable, tenantId: string, jobId: string): Promise<boolean> {
  const { rows } = await q.query(
    "select 1 from approvals where tenant_id = $1 and job_id = $2 and status in ('QUEUED', 'PENDING', 'APPROVED')",
    [tenantId, jobId],
    'arbiter_has_live_approval'
  )
  return rows.length > 0
}

/** The columns a new approval is inserted with, in order: each one's type and value. */
const INSERTED: ReadonlyArray<readonly [string, string, (a: NewApproval) => unknown]> = [
  ['approval_id', 'uuid', (a) => a.approval_id], ['tenant_id', 'text', (a) => a.tenant_id], ['job_id', 'text', (a) => a.job_id],
  ['job_hash', 'text', (a) => a.job_hash], ['job', 'text', (a) => a.job], ['topic', 'text', (a) => a.topic],
  ['trace_id', 'text', (a) => a.trace_id], ['status', 'text', (a) => a.status], ['rule_id', 'text', (a) => a.rule_id],
  ['reason', 'text', (a) => a.reason], ['constraints', 'jsonb', (a) => a.constraints], ['policy_snapshot', 'text', (a) => a.policy_snapshot],
  ['requested_by', 'jsonb', (a) => a.requested_by], ['requester_principal', 'text', (a) => a.requester_principal],
  ['agent_principal', 'text', (a) => a.agent_principal], ['approvals_required', 'int', (a) => a.approvals_required],
  ['approver_roles', 'jsonb', (a) => a.approver_roles], ['dispatch_window_sec', 'int', (a) => a.dispatch_window_sec],
  ['requested_decision_id', 'uuid', (a) => a.requested_decision_id], ['created_at', 'timestamptz', (a) => a.created_at],
  ['expires_at', 'timestamptz', (a) => a.expires_at], ['session_id', 'text', (a) => a.session_id],
  ['single_flight', 'boolean', (a) => a.single_flight], ['ttl_sec', 'int', (a) => a.ttl_sec]
]
const INSERTED_NAMES = INSERTED.map(([c]) => c).join(', ')

export async function insertApproval (q: Queryable, a: NewApproval): Promise<ApprovalRow> {
  const { rows } = await q.query<ApprovalRow>(
    `insert into approvals (${INSERTED_NAMES}) values (${INSERTED.map((_, i) => `$${i + 1}`).join(', ')}) returning ${COLUMNS}`,
    INSERTED.map(([, type, value]) => type === 'jsonb' && value(a) !== null ? JSON.stringify(value(a)) : value(a)),
    'arbiter_insert_approval'
  )
  return rows[0]
}

/** That the approvals of table (or alias) `t` are in a session's line: in front (PENDING) or behind (QUEUED). */
const inLine = (t: string): string => `${t}.single_flight and ${t}.status in ('QUEUED', 'PENDING')`

/**
 * Whether the tenant's queue has room for `added` more below `max`: the kept size says so at
 * once (it is never below the exact count, see migrations/0014); when it does not, the count
 * the bound is on decides, taken no further than `max`. The arguments are SQL expressions.
 */
function roomInQueue (tenant: string, now: string, max: string, added: string): string {
  return `(case when coalesce((select waiting from approval_queue_sizes where tenant_id = ${tenant}), 0) + ${added} <= ${max} then true
     else (select count(*) from (select 1 from approvals where tenant_id = ${tenant} and (status = 'QUEUED' or (status = 'PENDING' and expires_at > ${now}))
       limit ${max}) w) + ${added} <= ${max} end)`
}

/**
 * Whether the tenant has `max` approvals or more waiting for reviewers (pending and not run out)
 * or for their turn (queued): its queue bound.
 */
export async function queueFull (q: Queryable, tenantId: string, now: Date, max: number): Promise<boolean> {
  const { rows } = await q.query<{ room: boolean }>(`select ${roomInQueue('$1', '$2', '$3', '1')} as room`, [tenantId, now, max], 'arbiter_queue_room')
  return !rows[0].room
}

/**
 * The first approvals of jobs, in one statement, where nothing stands in their way: the job has
 * no approval yet, its session no usable grant and (single-flight) no line, and the queue has
 * room for all of them. Each is then what the full steps (approvals/on-check.ts) would open,
 * PENDING, in order; for the others nothing is inserted (undefined), and the full steps decide.
 * One that a row before it in `rows` could stand in the way of (the same job, the same
 * single-flight line) is left to the full steps too. Under the tenant log's lock, like them.
 */
export async function insertFirstApprovals (q: Queryable, rows: ReadonlyArray<NewApproval & { status: 'PENDING' }>, maxPending: number): Promise<Array<ApprovalRow | undefined>> {
  const jobs = new Set<string>()
  const lines = new Set<string>()
  const tried = rows.filter((a) => {
    const job = JSON.stringify([a.tenant_id, a.job_id])
    const line = a.single_flight && a.session_id !== null ? JSON.stringify([a.tenant_id, a.session_id]) : undefined
    if (jobs.has(job) || (line !== undefined && lines.has(line))) return false
    jobs.add(job)
    if (line !== undefined) lines.add(line)
    return true
  })
  const added = new Map<string, number>()
  for (const a of tried) added.set(a.tenant_id, (added.get(a.tenant_id) ?? 0) + 1)
  const input = tried.map((a, at) => ({ ...Object.fromEntries(INSERTED.map(([column, , value]) => [column, value(a)])), at, added: added.get(a.tenant_id) }))
  const { rows: inserted } = input.length === 0
    ? { rows: [] }
    : await q.query<ApprovalRow>(
      `insert into approvals (${INSERTED_NAMES})
       select ${INSERTED_NAMES} from jsonb_to_recordset($1::jsonb) as r(${INSERTED.map(([column, type]) => `${column} ${type}`).join(', ')}, at int, added int)
       where not exists (select 1 from approvals a where a.tenant_id = r.tenant_id and a.job_id = r.job_id)
         and (r.session_id is null or (
           not exists (select 1 from ${usableGrants('r.tenant_id', 'r.session_id', 'r.created_at')})
           and (not r.single_flight or not exists (select 1 from approvals a where a.tenant_id = r.tenant_id and a.session_id = r.session_id and ${inLine('a')}))))
         and ${roomInQueue('r.tenant_id', 'r.created_at', '$2', 'r.added')}
       order by r.at
       returning ${COLUMNS}`,
      [JSON.stringify(input), maxPending],
      'arbiter_first_approvals'
    )
  const byId = new Map(inserted.map((a) => [a.approval_id, a]))
  return rows.map((a) => byId.get(a.approval_id))
}

export interface ApprovalChange {
  status: ApprovalStatus
  approvals_received?: number
  approved_at?: Date
  dispatch_by?: Date
  resolved_at?: Date
  resolution?: Record<string, unknown>
  /** A queued approval's clock, set at its turn. */
  expires_at?: Date
}

/** Moves an approval on from `from`; returns the row as it now is, or undefined if it was not in `from`. */
export async function changeApproval (q: Queryable, approvalId: string, from: ApprovalStatus, c: ApprovalChange): Promise<ApprovalRow | undefined> {
  const { rows } = await q.query<ApprovalRow>(
    `update approvals set status = $3, approvals_received = coalesce($4, approvals_received), approved_at = coalesce($5, approved_at),
       dispatch_by = coalesce($6, dispatch_by), resolved_at = coalesce($7, resolved_at), resolution = coalesce($8::jsonb, resolution),
       expires_at = coalesce($9, expires_at)
     where approval_id = $1 and status = $2
     returning ${COLUMNS}`,
    [approvalId, from, c.status, c.approvals_received ?? null, c.approved_at ?? null, c.dispatch_by ?? null, c.resolved_at ?? null,
      c.resolution === undefined ? null : JSON.stringify(c.resolution), c.expires_at ?? null]
  )
  return rows[0]
}

/** Records a vote; false if this person already voted on the approval. */
export async function insertVote (q: Queryable, approvalId: string, v: VoteRow): Promise<boolean> {
  const { rows } = await q.query(
    `insert into approval_votes (approval_id, principal_id, key_id, vote, note, at) values ($1, $2, $3, $4, $5, $6)
     on conflict (approval_id, principal_id) do nothing returning 1`,
    [approvalId, v.principal_id, v.key_id, v.vote, v.note, v.at]
  )
  return rows.length === 1
}

export async function listVotes (q: Queryable, approvalIds: readonly string[]): Promise<Map<string, VoteRow[]>> {
  const { rows } = await q.query<VoteRow & { approval_id: string }>(
    'select approval_id, principal_id, key_id, vote, note, at from approval_votes where approval_id = any($1) order by at, principal_id',
    [approvalIds]
  )
  const out = new Map<string, VoteRow[]>()
  for (const { approval_id: id, ...vote } of rows) out.set(id, [...(out.get(id) ?? []), vote])
  return out
}

export interface ApprovalFilter {
  tenants?: readonly string[]
  tenantId?: string
  statuses?: readonly ApprovalStatus[]
  topic?: string
  /** Leave out pending approvals that ran out by `now` but were not swept yet. */
  hideLapsedAt?: Date
  afterOrdinal?: number
}

/** Approvals by filter, oldest first. */
export async function listApprovals (q: Queryable, f: ApprovalFilter, limit: number): Promise<ApprovalRow[]> {
  const { rows } = await q.query<ApprovalRow>(
    `select ${COLUMNS} from approvals
     where ($1::text[] is null or tenant_id = any($1)) and ($2::text is null or tenant_id = $2)
       and ($3::text[] is null or status = any($3)) and ($4::text is null or topic = $4)
       and ($5::bigint is null or ordinal > $5)
       and ($6::timestamptz is null or status <> 'PENDING' or expires_at > $6)
     order by ordinal limit $7`,
    [f.tenants ?? null, f.tenantId ?? null, f.statuses ?? null, f.topic ?? null, f.afterOrdinal ?? null, f.hideLapsedAt ?? null, limit]
  )
  return rows
}

/** Live approvals whose clock ran out by `now`: pending past their TTL, approved past their dispatch window. */
export async function dueForExpiry (q: Queryable, now: Date, limit: number): Promise<Array<{ tenant_id: string, job_id: string, approval_id: string }>> {
  const { rows } = await q.query<{ tenant_id: string, job_id: string, approval_id: string }>(
    `select tenant_id, job_id, approval_id from approvals
     where (status = 'PENDING' and expires_at <= $1) or (status = 'APPROVED' and dispatch_by <= $1)
     order by ordinal limit $2`,
    [now, limit]
  )
  return rows
}

/** Per tenant: how many approvals wait, and when the oldest of them was requested. */
export async function pendingStats (q: Queryable, now: Date): Promise<Array<{ tenant_id: string, pending: number, oldest: Date }>> {
  const { rows } = await q.query<{ tenant_id: string, pending: number, oldest: Date }>(
    `select tenant_id, count(*)::int as pending, min(created_at) as oldest from approvals
     where status = 'PENDING' and expires_at > $1 group by tenant_id order by tenant_id`,
    [now]
  )
  return rows
}

/**
 * The line of a single-flight session: its approvals waiting for reviewers, the one in front
 * (PENDING) first, then those QUEUED behind it, oldest first. Row-locked for the caller's
 * transaction, which the tenant log's lock already serializes with every other change.
 */
export async function lockLine (q: Queryable, tenantId: string, sessionId: string): Promise<ApprovalRow[]> {
  const { rows } = await q.query<ApprovalRow>(
    `select ${COLUMNS} from approvals
     where tenant_id = $1 and session_id = $2 and ${inLine('approvals')}
     order by (status = 'PENDING') desc, ordinal
     for update`,
    [tenantId, sessionId]
  )
  return rows
}

/** The job in front of a session's line (read outside any lock), if any. */
export async function frontOfLine (q: Queryable, tenantId: string, sessionId: string): Promise<string | undefined> {
  const { rows } = await q.query<{ job_id: string }>(
    `select job_id from approvals where tenant_id = $1 and session_id = $2 and single_flight and status = 'PENDING'
     order by ordinal limit 1`,
    [tenantId, sessionId]
  )
  return rows[0]?.job_id
}

/** Every live approval of a session (queued, pending or approved), newest first, row-locked. */
export async function lockSessionApprovals (q: Queryable, tenantId: string, sessionId: string): Promise<ApprovalRow[]> {
  const { rows } = await q.query<ApprovalRow>(
    `select ${COLUMNS} from approvals
     where tenant_id = $1 and session_id = $2 and status in ('QUEUED', 'PENDING', 'APPROVED')
     order by ordinal desc
     for update`,
    [tenantId, sessionId]
  )
  return rows
}
