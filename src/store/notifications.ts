/**
 * The notification outbox and its deliveries (migrations/0011). The outbox is filled by a
 * trigger on audit_log; the dispatcher (src/notify/dispatcher.ts) turns its events into
 * deliveries and delivers those. Times are the server's (`now()`), so instances whose clocks
 * differ agree on what is due, and the retry limit counts from the record's own transaction.
 */
import type { Queryable } from './db.js'

export interface OutboxRow {
  id: string
  tenant_id: string
  seq: string
  created_at: Date
  record: string
  a_topic: string | null
  a_rule_id: string | null
  a_reason: string | null
  a_required: number | null
  d_topic: string | null
  d_rule_id: string | null
}

/**
 * Locks the oldest events no other dispatcher holds, with what they are told with: an approval
 * record's approval, a violation's decision. Run in the transaction that turns them into deliveries.
 */
export async function lockOutbox (tx: Queryable, limit: number): Promise<OutboxRow[]> {
  const { rows } = await tx.query<OutboxRow>(
    `select o.id::text as id, o.tenant_id, o.seq::text as seq, o.created_at, l.record,
            a.topic as a_topic, a.rule_id as a_rule_id, a.reason as a_reason, a.approvals_required as a_required,
            d.topic as d_topic, d.rule_id as d_rule_id
       from notification_outbox o
       join audit_log l on l.tenant_id = o.tenant_id and l.seq = o.seq
       left join approvals a on l.record_type like 'approval.%' and a.approval_id = ((l.record::jsonb) -> 'body' ->> 'approval_id')::uuid
       left join lateral (
         select x.topic, x.rule_id from audit_log x
          where l.record_type = 'job.violation' and x.job_id = l.job_id and x.tenant_id = l.tenant_id
            and x.record_type = 'decision' and x.seq < l.seq
          order by x.seq desc limit 1) d on true
      order by o.id
      limit $1
        for update of o skip locked`, [limit])
  return rows
}

export interface NewDelivery {
  tenant_id: string
  seq: number
  event_type: string
  destination: 'global' | 'tenant'
  format: string
  body: string
  created_at: Date
}

/** Adds deliveries, due now, and removes the events they came from (some may have none). */
export async function routeEvents (tx: Queryable, eventIds: readonly string[], deliveries: readonly NewDelivery[]): Promise<void> {
  if (deliveries.length > 0) {
    await tx.query(
      `insert into notification_deliveries (tenant_id, seq, event_type, destination, format, body, status, created_at, next_attempt_at)
       select x.tenant_id, x.seq, x.event_type, x.destination, x.format, x.body, 'pending', x.created_at, now()
         from jsonb_to_recordset($1::jsonb) as x(tenant_id text, seq bigint, event_type text, destination text, format text, body text, created_at timestamptz)
       on conflict (tenant_id, seq, destination) do nothing`, [JSON.stringify(deliveries)])
  }
  await tx.query('delete from notification_outbox where id = any($1::bigint[])', [eventIds])
}

export interface ClaimedDelivery {
  delivery_id: string
  tenant_id: string
  seq: string
  event_type: string
  destination: 'global' | 'tenant'
  format: string
  body: string
  /** This attempt's number: an outcome is recorded only for the attempt that still holds it. */
  attempts: number
}

/**
 * Takes up to `limit` due deliveries no one else holds and pushes them `leaseMs` ahead: another
 * instance retries one only if this attempt's outcome is not recorded by then (a crash).
 */
export async function claimDue (q: Queryable, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
  const { rows } = await q.query<ClaimedDelivery>(
    `update notification_deliveries d
        set attempts = d.attempts + 1, last_attempt_at = now(), next_attempt_at = now() + $2 * interval '1 millisecond'
      where d.delivery_id in (
        select delivery_id from notification_deliveries
         where status = 'pending' and next_attempt_at <= now()
         order by next_attempt_at, delivery_id
         limit $1
           for update skip locked)
      returning d.delivery_id::text as delivery_id, d.tenant_id, d.seq::text as seq, d.event_type, d.destination, d.format, d.body, d.attempts`,
    [limit, Math.ceil(leaseMs)])
  return rows
}

/** Marks a delivery delivered; returns seconds from its record's transaction to now, or undefined if it was no longer pending. */
export async function markDelivered (q: Queryable, deliveryId: string, httpStatus: number): Promise<number | undefined> {
  const { rows } = await q.query<{ latency: number }>(
    `update notification_deliveries
        set status = 'delivered', delivered_at = now(), last_http_status = $2, last_error = null, next_attempt_at = null
      where delivery_id = $1 and status = 'pending'
      returning extract(epoch from (delivered_at - created_at))::float8 as latency`, [deliveryId, httpStatus])
  return rows[0]?.latency
}

/**
 * Records a failed attempt: due again after `retryInMs`, but never past `retryMaxSec` after its
 * record; once that has passed, failed for good. Returns the new status, or undefined when a
 * later attempt holds the delivery (this one outlived its lease).
 */
export async function markAttemptFailed (q: Queryable, d: Pick<ClaimedDelivery, 'delivery_id' | 'attempts'>, outcome: { httpStatus: number | null, error: string }, retryInMs: number, retryMaxSec: number): Promise<'pending' | 'failed' | undefined> {
  const { rows } = await q.query<{ status: 'pending' | 'failed' }>(
    `update notification_deliveries
        set last_http_status = $3, last_error = $4,
            status = case when now() >= created_at + $6 * interval '1 second' then 'failed' else 'pending' end,
            next_attempt_at = case when now() >= created_at + $6 * interval '1 second' then null
                                   else least(now() + $5 * interval '1 millisecond', created_at + $6 * interval '1 second') end
      where delivery_id = $1 and status = 'pending' and attempts = $2
      returning status`, [d.delivery_id, d.attempts, outcome.httpStatus, outcome.error.slice(0, 500), Math.ceil(retryInMs), retryMaxSec])
  return rows[0]?.status
}

/** Milliseconds until the next pending delivery is due (0 if one is), or undefined if none is pending. */
export async function nextDueInMs (q: Queryable): Promise<number | undefined> {
  // Not greatest(0, …) in SQL: greatest ignores a null, and none pending would read as due now.
  const { rows } = await q.query<{ ms: number | null }>(
    "select (extract(epoch from (min(next_attempt_at) - now())) * 1000)::float8 as ms from notification_deliveries where status = 'pending'")
  const ms = rows[0]?.ms ?? null
  return ms === null ? undefined : Math.max(0, ms)
}

/** Events not yet routed, and deliveries not yet delivered nor given up on. */
export async function notificationBacklog (q: Queryable): Promise<{ outbox: number, pending: number }> {
  const { rows } = await q.query<{ outbox: number, pending: number }>(
    `select (select count(*) from notification_outbox)::int as outbox,
            (select count(*) from notification_deliveries where status = 'pending')::int as pending`)
  return rows[0]
}

/** Deletes deliveries that ended (delivered or failed) more than `keepDays` ago. */
export async function pruneDeliveries (q: Queryable, keepDays: number): Promise<void> {
  await q.query(
    `delete from notification_deliveries
      where status <> 'pending' and coalesce(delivered_at, last_attempt_at, created_at) < now() - $1 * interval '1 day'`, [keepDays])
}

export interface DeliveryRow {
  delivery_id: string
  tenant_id: string
  seq: string
  event_type: string
  destination: string
  format: string
  status: string
  attempts: number
  created_at: Date
  last_attempt_at: Date | null
  next_attempt_at: Date | null
  last_http_status: number | null
  last_error: string | null
  delivered_at: Date | null
}

export interface DeliveryFilter {
  status?: string
  eventType?: string
  tenantId?: string
  /** The tenants the caller may see; undefined: all. */
  tenants?: readonly string[]
  /** Only deliveries older (smaller id) than this one. */
  before?: string
}

/** Deliveries matching every given filter, newest first. */
export async function listDeliveries (q: Queryable, f: DeliveryFilter, limit: number): Promise<DeliveryRow[]> {
  const { rows } = await q.query<DeliveryRow>(
    `select delivery_id::text as delivery_id, tenant_id, seq::text as seq, event_type, destination, format, status, attempts,
            created_at, last_attempt_at, next_attempt_at, last_http_status, last_error, delivered_at
       from notification_deliveries
      where ($1::text is null or status = $1)
        and ($2::text is null or event_type = $2)
        and ($3::text is null or tenant_id = $3)
        and ($4::text[] is null or tenant_id = any($4::text[]))
        and ($5::bigint is null or delivery_id < $5::bigint)
      order by delivery_id desc
      limit $6`,
    [f.status ?? null, f.eventType ?? null, f.tenantId ?? null, f.tenants === undefined ? null : [...f.tenants], f.before ?? null, limit])
  return rows
}
