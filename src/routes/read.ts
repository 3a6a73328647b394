/**
 * Reading the log back: a trace's timeline, and decisions by filter with cursor pagination.
 */
import type { FastifyInstance } from 'fastify'
import type { ParsedRecord } from '../audit/chain.js'
import { callerOf } from '../auth/plugin.js'
import { tenantFilter } from '../auth/principal.js'
import { errorFor } from '../errors/index.js'
import { TERMINAL_STATUSES, type JobStatus } from '../domain/job-status.js'
import { decisionListRoute, traceRoute } from '../schemas/read.js'
import { listDecisions, listTrace, type LogRow } from '../store/log-read.js'
import type { Database } from '../store/db.js'

const AUDITOR = ['auditor'] as const
const MAX_TRACE = 10_000
const MAX_PAGE = 500

function str (v: unknown): string | null {
  return typeof v === 'string' ? v : null
}

export function readRoutes (app: FastifyInstance, opts: { db: Database }): void {
  app.get<{ Params: { trace_id: string } }>('/traces/:trace_id', {
    config: { access: AUDITOR },
    schema: traceRoute
  }, async (request, reply) => {
    request.log = reply.log = request.log.child({ traceId: request.params.trace_id })
    // Records of tenants beyond the caller's scope are not there for it, not even as a count.
    const rows = await listTrace(opts.db, request.params.trace_id, MAX_TRACE, tenantFilter(callerOf(request)))
    if (rows.length === 0) throw errorFor('noTrace', request.params.trace_id)
    const parsed = rows.map((r) => ({ row: r, rec: JSON.parse(r.record) as ParsedRecord }))
    const finalStatus = new Map<string, string>()
    for (const { rec } of parsed) {
      const status = str(rec.body.status)
      if (rec.type === 'job.event' && rec.job_id !== null && status !== null && TERMINAL_STATUSES.includes(status as JobStatus)) finalStatus.set(`${rec.log}\n${rec.job_id}`, status)
    }
    return {
      trace_id: request.params.trace_id,
      entries: parsed.map(({ row, rec }) => ({
        tenant_id: row.tenant_id,
        seq: row.seq,
        at: rec.at,
        type: rec.type,
        actor: rec.actor,
        job_id: rec.job_id,
        decision: str(rec.body.decision),
        rule_id: str(rec.body.rule_id),
        reason: str(rec.body.reason),
        status: str(rec.body.status),
        approval_state: str(rec.body.approval_state),
        verdict: str(rec.body.verdict),
        job_status: rec.job_id === null ? null : finalStatus.get(`${rec.log}\n${rec.job_id}`) ?? null
      }))
    }
  })

  app.get<{ Querystring: { job_id?: string, tenant_id?: string, topic?: string, decision?: string, rule_id?: string, since?: string, until?: string, cursor?: string, limit?: string } }>('/decisions', {
    config: { access: AUDITOR },
    schema: decisionListRoute
  }, async (request, reply) => {
    if (request.query.tenant_id !== undefined) request.log = reply.log = request.log.child({ tenantId: request.query.tenant_id })
    const q = request.query
    const limit = Math.min(MAX_PAGE, Number(q.limit ?? 50))
    const rows = await listDecisions(opts.db, {
      jobId: q.job_id, tenantId: q.tenant_id, tenants: tenantFilter(callerOf(request)), topic: q.topic, decision: q.decision, ruleId: q.rule_id, since: checkTime(q.since, 'since'), until: checkTime(q.until, 'until'), after: q.cursor === undefined ? undefined : decodeCursor(q.cursor)
    }, limit + 1)
    const page = rows.slice(0, limit)
    const last = page[page.length - 1]
    return {
      decisions: page.map(decisionView),
      next_cursor: rows.length > limit ? encodeCursor(last) : null
    }
  })
}

function decisionView (row: LogRow): Record<string, unknown> {
  const rec = JSON.parse(row.record) as ParsedRecord
  const b = rec.body as Record<string, unknown> & { job: { topic: string } }
  return {
    decision_id: b.decision_id,
    tenant_id: row.tenant_id,
    seq: row.seq,
    job_id: rec.job_id,
    topic: b.job.topic,
    decision: b.decision,
    reason: b.reason,
    rule_id: b.rule_id,
    matched_rules: b.matched_rules,
    constraints: b.constraints,
    job_hash: b.job_hash,
    policy_snapshot: b.policy_snapshot,
    trace_id: rec.trace_id,
    checked_at: rec.at,
    signature: `hmac-sha256:${row.key_id}:${row.signature}`
  }
}

function encodeCursor (row: LogRow): string {
  return Buffer.from(JSON.stringify([new Date(row.at).toISOString(), row.tenant_id, row.seq])).toString('base64url')
}

function decodeCursor (cursor: string): { at: string, tenantId: string, seq: number } {
  try {
    const [at, tenantId, seq] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string, number]
    if (isTime(at) && typeof tenantId === 'string' && Number.isSafeInteger(seq) && seq >= 1) return { at, tenantId, seq }
  } catch {}
  throw errorFor('foreignCursor')
}

/** An RFC 3339 time Postgres can hold: ajv's date-time admits year 0, which Postgres refuses. */
function isTime (value: unknown): value is string {
  return typeof value === 'string' && /^(?!0000)\d{4}-\d{2}-\d{2}T/.test(value) && !Number.isNaN(Date.parse(value))
}

function checkTime (value: string | undefined, name: string): string | undefined {
  if (value !== undefined && !isTime(value)) throw errorFor('timeBeforeYearOne', name)
  return value
}
