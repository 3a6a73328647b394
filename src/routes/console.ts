/**
 * The reads the web console needs beyond the rest of the API: who the caller is (`GET /whoami`),
 * the reviewer's queue, long-polled for changes (`GET /queue`), and one approval as a reviewer
 * must judge it (`GET /approvals/:job_id/review`). Same keys, roles and tenant checks as every
 * other route: the console can never do more than its token could with curl.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import { approvalView } from '../approvals/view.js'
import { callerOf, jobTenant } from '../auth/plugin.js'
import { tenantFilter } from '../auth/principal.js'
import type { ParsedRecord } from '../audit/chain.js'
import type { Clock } from '../clock.js'
import { forMe, queueItems, queueVersion, type QueueFilter } from '../review/queue.js'
import { errorFor } from '../errors/index.js'
import { queueRoute, reviewRoute, whoamiRoute } from '../schemas/console.js'
import { getPriorVersion } from '../store/approval-history.js'
import { getLatestApproval, listApprovals, listVotes } from '../store/approvals.js'
import type { Database } from '../store/db.js'
import { getDecisionRecord } from '../store/log-read.js'
import { whileConnected } from '../http/while-connected.js'

/** How often a waiting queue read asks the database again; a change shows within this. */
export const QUEUE_POLL_MS = 500
/** Pending approvals one queue answer holds at most (a tenant holds MAX_PENDING_APPROVALS). */
const QUEUE_LIMIT = 500
const MAX_QUEUE_WAITERS = 1000

interface QueueQuery extends QueueFilter { version?: string, wait_sec?: string }

export function consoleRoutes (app: FastifyInstance, opts: { db: Database, clock: Clock, pollMs?: number }): void {
  const pollMs = opts.pollMs ?? QUEUE_POLL_MS
  // Waiting reads end as close() begins, so that the drain answers them at once.
  const closing = new AbortController()
  let waiting = 0
  app.addHook('preClose', async () => { closing.abort() })

  app.get('/whoami', {
    config: { access: ['scheduler', 'reviewer', 'auditor'] },
    schema: whoamiRoute
  }, async (request) => {
    const p = callerOf(request)
    return { principal_id: p.principalId, key_id: p.keyId, roles: p.roles, tenants: p.tenants, agents: p.agents, kind: p.kind }
  })

  const readQueue = async (request: FastifyRequest<{ Querystring: QueueQuery }>): Promise<{ version: string, approvals: ReturnType<typeof queueItems>, truncated: boolean }> => {
    const q = request.query
    const me = callerOf(request)
    const rows = await listApprovals(opts.db, {
      tenants: tenantFilter(me),
      tenantId: q.tenant_id,
      statuses: ['PENDING'],
      topic: q.topic,
      hideLapsedAt: opts.clock.now()
    }, QUEUE_LIMIT + 1)
    const page = rows.slice(0, QUEUE_LIMIT)
    const votes = await listVotes(opts.db, page.map((a) => a.approval_id))
    const approvals = queueItems(page, votes, me, q)
    return { version: queueVersion(approvals), approvals, truncated: rows.length > QUEUE_LIMIT }
  }

  app.get<{ Querystring: QueueQuery }>('/queue', {
    config: { access: ['reviewer', 'auditor'] },
    schema: queueRoute
  }, async (request, reply) => {
    let seen = await readQueue(request)
    const waitMs = Number(request.query.wait_sec ?? 0) * 1000
    if (waitMs === 0 || request.query.version === undefined || seen.version !== request.query.version) return seen
    if (waiting >= MAX_QUEUE_WAITERS) throw errorFor('tooManyWaiters', MAX_QUEUE_WAITERS)
    waiting++
    const gone = whileConnected(reply, closing.signal)
    try {
      const until = Date.now() + waitMs
      while (seen.version === request.query.version && Date.now() < until && !gone.signal.aborted) {
        await sleep(Math.min(pollMs, until - Date.now()), undefined, { signal: gone.signal }).catch(() => {})
        if (!gone.signal.aborted) seen = await readQueue(request)
      }
      if (closing.signal.aborted) reply.header('connection', 'close')
      return seen
    } finally {
      waiting--
      gone.done()
    }
  })

  app.get<{ Params: { job_id: string }, Querystring: { tenant_id?: string } }>('/approvals/:job_id/review', {
    config: { access: ['reviewer', 'auditor'] },
    schema: reviewRoute
  }, async (request, reply) => {
    const jobId = request.params.job_id
    const tenant = jobTenant(request, reply, request.query.tenant_id, jobId)
    const a = await getLatestApproval(opts.db, tenant, jobId)
    if (a === undefined) throw errorFor('noApproval', jobId)
    const votes = (await listVotes(opts.db, [a.approval_id])).get(a.approval_id) ?? []
    const decision = await getDecisionRecord(opts.db, a.requested_decision_id)
    const body = decision === undefined ? {} : (JSON.parse(decision.record) as ParsedRecord).body
    const prior = await getPriorVersion(opts.db, tenant, jobId, a.approval_id, a.job_hash)
    return {
      approval: approvalView(a, votes),
      ...forMe(a, votes, callerOf(request)),
      command: body.command ?? null,
      derived_risk_tags: Array.isArray(body.derived_risk_tags) ? body.derived_risk_tags : [],
      previous: prior === undefined
        ? null
        : { approval_id: prior.approval_id, job_hash: prior.job_hash, job: JSON.parse(prior.job) as unknown, status: prior.status, created_at: new Date(prior.created_at).toISOString() }
    }
  })
}
