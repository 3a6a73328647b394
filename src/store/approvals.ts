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

/** The columns a new approval is inserted with, in order, and where each comes from. */
const INSERTED: ReadonlyArray<readonly [string, (a: NewApproval) => unknown]> = [
  ['approval_id', (a) => a.approval_id], ['tenant_id', (a) => a.tenant_id], ['job_id', (a) => a.job_id], ['job_hash', (a) => a.job_hash],
  ['job', (a) => a.job], ['topic', (a) => a.topic], ['trace_id', (a) => a.trace_id], ['status', (a) => a.status],
  ['rule_id', (a) => a.rule_id], ['reason', (a) => a.reason], ['constraints', (a) => a.constraints === null ? null : JSON.stringify(a.constraints)],
  ['policy_snapshot', (a) => a.policy_snapshot], ['requested_by', (a) => JSON.stringify(a.requested_by)],
  ['requester_principal', (a) => a.requester_principal], ['agent_principal', (a) => a.agent_principal],
  ['approvals_required', (a) => a.approvals_required], ['approver_roles', (a) => JSON.stringify(a.approver_roles)],
  ['dispatch_window_sec', (a) => a.dispatch_window_sec], ['requested_decision_id', (a) => a.requested_decision_id],
  ['created_at', (a) => a.created_at], ['expires_at', (a) => a.expires_at], ['session_id', (a) => a.session_id],
  ['single_flight', (a) => a.single_flight], ['ttl_sec', (a) => a.ttl_sec]
]
const INSERT_INTO = `insert into approvals (${INSERTED.map(([c]) => c).join(', ')})`
const PLACEHOLDERS = INSERTED.map((_, i) => `$${i + 1}`).join(', ')
/** The placeholder of one of a new approval's columns. */
const at = (column: string): string => `$${INSERTED.findIndex(([c]) => c === column) + 1}`

export async function insertApproval (q: Queryable, a: NewApproval): Promise<ApprovalRow> {
  const { rows } = await q.query<ApprovalRow>(`${INSERT_INTO} values (${PLACEHOLDERS}) returning ${COLUMNS}`, INSERTED.map(([, v]) => v(a)))
  return rows[0]
}

/** The approvals of a session's line: in front (PENDING) or behind (QUEUED). */
const IN_LINE = "single_flight and status in ('QUEUED', 'PENDING')"

/**
 * Whether the tenant's queue has room for one more below `max`: the kept size says so at once
 * (it is never below the exact count, see migrations/0014); when it does not, the count the
 * bound is on decides, taken no further than `max`. The arguments are placeholders.
 */
function roomInQueue (tenant: string, now: string, max: string): string {
  return `(case when coalesce((select waiting from approval_queue_sizes where tenant_id = ${tenant}), 0) < ${max} then true
     else (select count(*) from (select 1 from approvals where tenant_id = ${tenant} and (status = 'QUEUED' or (status = 'PENDING' and expires_at > ${now}))
       limit ${max}) w) < ${max} end)`
}

/**
 * Whether the tenant has `max` approvals or more waiting for reviewers (pending and not run out)
 * or for their turn (queued): its queue bound.
 */
export async function queueFull (q: Queryable, tenantId: string, now: Date, max: number): Promise<boolean> {
  const { rows } = await q.query<{ room: boolean }>(`select ${roomInQueue('$1', '$2', '$3')} as room`, [tenantId, now, max], 'arbiter_queue_room')
  return !rows[0].room
}

/**
 * A job's first approval, in one statement, when nothing stands in its way: the job has no
 * approval yet, its session no usable grant and (single-flight) no line, and the queue has room.
 * Then it is what the full steps (approvals/on-check.ts) would open, PENDING; otherwise nothing
 * is inserted (undefined), and the full steps decide. Under the tenant log's lock, like them.
 */
export async function insertFirstApproval (q: Queryable, a: NewApproval & { status: 'PENDING' }, maxPending: number): Promise<ApprovalRow | undefined> {
  const tenant = at('tenant_id')
  const session = `${at('session_id')}::text`
  const now = at('created_at')
  const max = `$${INSERTED.length + 1}`
  const { rows } = await q.query<ApprovalRow>(
    `${INSERT_INTO} select ${PLACEHOLDERS}
     where not exists (select 1 from approvals where tenant_id = ${tenant} and job_id = ${at('job_id')})
       and (${session} is null or (
         not exists (select 1 from ${usableGrants(tenant, session, now)})
         and (not ${at('single_flight')}::boolean or not exists (select 1 from approvals where tenant_id = ${tenant} and session_id = ${session} and ${IN_LINE}))))
       and ${roomInQueue(tenant, now, max)}
     returning ${COLUMNS}`,
    [...INSERTED.map(([, v]) => v(a)), maxPending],
    'arbiter_first_approval'
  )
  return rows[0]
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
     where tenant_id = $1 and session_id = $2 and ${IN_LINE}
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
