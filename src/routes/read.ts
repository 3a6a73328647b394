/**
 * Reading the log back: a trace's timeline, a job's story, and decisions and violations by
 * filter with cursor pagination.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ParsedRecord } from '../audit/chain.js'
import { callerOf, jobTenant } from '../auth/plugin.js'
import { hasRole, speaksForJob, tenantFilter } from '../auth/principal.js'
import { errorFor } from '../errors/index.js'
import { standingOf, timelineOf } from '../jobs/timeline.js'
import { jobTraceId } from '../jobs/trace.js'
import { decisionListRoute, jobStoryRoute, traceRoute, violationListRoute } from '../schemas/read.js'
import { linkedTraces, listJobRecords, listRecords, listTrace, type LogRow } from '../store/log-read.js'
import type { Database } from '../store/db.js'
import { bindLogFields } from '../http/request-log.js'

const AUDITOR = ['auditor'] as const
const JOB_READERS = ['auditor', 'scheduler'] as const
const MAX_TRACE = 10_000
const MAX_PAGE = 500

type ListQuery = { job_id?: string, session_id?: string, tenant_id?: string, topic?: string, decision?: string, rule_id?: string, since?: string, until?: string, cursor?: string, limit?: string }

export function readRoutes (app: FastifyInstance, opts: { db: Database }): void {
  app.get<{ Params: { trace_id: string } }>('/traces/:trace_id', {
    config: { access: AUDITOR },
    schema: traceRoute
  }, async (request, reply) => {
    bindLogFields(request, reply, { traceId: request.params.trace_id })
    // Records of tenants beyond the caller's scope are not there for it, not even as a count.
    const tenants = tenantFilter(callerOf(request))
    const rows = await listTrace(opts.db, request.params.trace_id, MAX_TRACE, tenants)
    if (rows.length === 0) throw errorFor('noTrace', request.params.trace_id)
    const { jobs, entries } = timelineOf(rows)
    return { trace_id: request.params.trace_id, jobs, linked_traces: await linkedTraces(opts.db, request.params.trace_id, tenants), entries }
  })

  app.get<{ Params: { job_id: string }, Querystring: { tenant_id?: string } }>('/jobs/:job_id', {
    config: { access: JOB_READERS },
    schema: jobStoryRoute
  }, async (request, reply) => {
    const tenantId = jobTenant(request, reply, request.query.tenant_id, request.params.job_id)
    const rows = await listJobRecords(opts.db, tenantId, request.params.job_id, MAX_TRACE)
    const caller = callerOf(request)
    // A scheduler reads the jobs of the agents its key speaks for; any other job looks unknown.
    if (rows.length === 0 || (!hasRole(caller, AUDITOR) && !speaksForJob(caller, agentOf(rows)))) throw errorFor('noJob', request.params.job_id)
    const timeline = timelineOf(rows)
    return {
      tenant_id: tenantId,
      job_id: request.params.job_id,
      trace_id: jobTraceId(tenantId, request.params.job_id),
      traces: [...new Set(timeline.entries.map((e) => e.trace_id))],
      ...standingOf(timeline),
      entries: timeline.entries
    }
  })

  app.get<{ Querystring: ListQuery }>('/decisions', {
    config: { access: AUDITOR },
    schema: decisionListRoute
  }, async (request, reply) => {
    const { rows, next } = await page(request, reply, 'decision')
    return { decisions: rows.map(decisionView), next_cursor: next }
  })

  app.get<{ Querystring: ListQuery }>('/violations', {
    config: { access: AUDITOR },
    schema: violationListRoute
  }, async (request, reply) => {
    const { rows, next } = await page(request, reply, 'job.violation')
    return { violations: rows.map(violationView), next_cursor: next }
  })

  /** A page of one type of record, newest first, by the query's filters within the caller's tenants. */
  async function page (request: FastifyRequest<{ Querystring: ListQuery }>, reply: FastifyReply, type: 'decision' | 'job.violation'): Promise<{ rows: LogRow[], next: string | null }> {
    if (request.query.tenant_id !== undefined) bindLogFields(request, reply, { tenantId: request.query.tenant_id })
    const q = request.query
    const limit = Math.min(MAX_PAGE, Number(q.limit ?? 50))
    const rows = await listRecords(opts.db, type, {
      jobId: q.job_id, sessionId: q.session_id, tenantId: q.tenant_id, tenants: tenantFilter(callerOf(request)), topic: q.topic, decision: q.decision, ruleId: q.rule_id, since: checkTime(q.since, 'since'), until: checkTime(q.until, 'until'), after: q.cursor === undefined ? undefined : decodeCursor(q.cursor)
    }, limit + 1)
    const shown = rows.slice(0, limit)
    return { rows: shown, next: rows.length > limit ? encodeCursor(shown[shown.length - 1]) : null }
  }
}

/** The agent a job acts for, as its newest decision names it. */
function agentOf (rows: readonly LogRow[]): string | null {
  for (let i = rows.length - 1; i >= 0; i--) {
    if (rows[i].record_type !== 'decision') continue
    const job = (JSON.parse(rows[i].record) as ParsedRecord).body.job as { principal_id?: string }
    return job.principal_id ?? null
  }
  return null
}

function violationView (row: LogRow): Record<string, unknown> {
  const rec = JSON.parse(row.record) as ParsedRecord
  const b = rec.body
  return {
    tenant_id: row.tenant_id,
    seq: row.seq,
    job_id: rec.job_id,
    trace_id: rec.trace_id,
    at: rec.at,
    actor: rec.actor,
    status: b.status,
    kind: b.kind,
    reason: b.reason,
    decision: b.decision,
    decision_id: b.decision_id,
    signature: `hmac-sha256:${row.key_id}:${row.signature}`
  }
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
