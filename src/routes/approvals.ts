/**
 * The reviewers' side: the approval queue, one approval in full, votes; and the scheduler's:
 * one approval, waited on until it is decided (`wait_sec`), and the cancel of one job or of a
 * whole session. Approvals are
 * addressed by job id within a tenant (`tenant_id`, default `default`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { approvalView, type ApprovalView } from '../approvals/view.js'
import { ApprovalWaiters, awaitsDecision } from '../approvals/waiters.js'
import type { ApprovalService, VoteRequest } from '../approvals/service.js'
import { assertTenant, callerOf, jobTenant } from '../auth/plugin.js'
import { tenantFilter } from '../auth/principal.js'
import type { Clock } from '../clock.js'
import { recordFailure } from '../errors/index.js'
import type { ApprovalStatus } from '../domain/approval-status.js'
import { approvalCancelRoute, approvalGetRoute, approvalListRoute, approvalVoteRoute, sessionCancelRoute } from '../schemas/approvals.js'
import { listApprovals, listVotes } from '../store/approvals.js'
import type { Database } from '../store/db.js'
import { DEFAULT_TENANT } from '../policy/job.js'
import { whileConnected } from '../http/while-connected.js'
import { bindLogFields } from '../http/request-log.js'

const REVIEWERS = ['reviewer', 'auditor'] as const

interface ListQuery { tenant_id?: string, status?: ApprovalStatus, topic?: string, include_resolved?: 'true' | 'false', cursor?: string, limit?: string }

export function approvalRoutes (app: FastifyInstance, opts: { approvals: ApprovalService, db: Database, clock: Clock, budgetMs: number }): void {
  const { approvals } = opts
  const deadline = (request: FastifyRequest): number => request.receivedAt + opts.budgetMs
  // One poller per instance for every waiting GET; released as close() begins, so that the
  // drain answers them (with the approval as it is then) instead of waiting out their wait_sec.
  const waiters = new ApprovalWaiters({ db: opts.db, clock: opts.clock, onPollError: (err) => { app.log.warn({ err }, 'polling the approvals waited on failed; trying again') } })
  app.addHook('preClose', async () => { waiters.close() })
  app.get<{ Querystring: ListQuery }>('/approvals', {
    config: { access: REVIEWERS },
    schema: approvalListRoute
  }, async (request) => {
    const q = request.query
    // The queue is what waits for a decision; include_resolved=true shows every approval.
    const statuses = q.status !== undefined ? [q.status] : q.include_resolved === 'true' ? undefined : ['PENDING' as const]
    const onlyPending = statuses?.length === 1 && statuses[0] === 'PENDING'
    const limit = Number(q.limit ?? 50)
    const rows = await listApprovals(opts.db, {
      tenants: tenantFilter(callerOf(request)),
      tenantId: q.tenant_id,
      statuses,
      topic: q.topic,
      hideLapsedAt: onlyPending ? opts.clock.now() : undefined,
      afterOrdinal: q.cursor === undefined ? undefined : Number(q.cursor)
    }, limit + 1)
    const page = rows.slice(0, limit)
    const votes = await listVotes(opts.db, page.map((a) => a.approval_id))
    return {
      approvals: page.map((a) => approvalView(a, votes.get(a.approval_id) ?? [])),
      next_cursor: rows.length > limit ? String(page[page.length - 1].ordinal) : null
    }
  })

  // A scheduler reads (and waits on) the approvals of agents its key speaks for: see ApprovalService.get.
  app.get<{ Params: { job_id: string }, Querystring: { tenant_id?: string, wait_sec?: string } }>('/approvals/:job_id', {
    config: { access: [...REVIEWERS, 'scheduler'] },
    schema: approvalGetRoute
  }, async (request, reply) => {
    const { job_id: jobId } = request.params
    const tenant = jobTenant(request, reply, request.query.tenant_id, jobId)
    const read = async (): Promise<ApprovalView> => await approvals.get(tenant, jobId, callerOf(request))
    const seen = await read()
    const waitMs = Number(request.query.wait_sec ?? 0) * 1000
    if (waitMs === 0 || !awaitsDecision(seen, opts.clock.now())) return seen
    const gone = whileConnected(reply)
    try {
      const end = await waiters.wait(seen, waitMs, gone.signal)
      // Nobody is left to answer; otherwise the approval as it is now, moved on or not.
      if (end === 'aborted') return seen
      // Answered after the listener began to close: a kept-alive connection would hold the close up until it idled out.
      if (end === 'closed') reply.header('connection', 'close')
      return await read()
    } finally {
      gone.done()
    }
  })

  const voteRoute = (path: string, decision: VoteRequest['vote']): void => {
    app.post<{ Params: { job_id: string }, Body: { tenant_id?: string, note?: string, job_hash?: string } }>(path, {
      config: { access: ['reviewer'] },
      schema: approvalVoteRoute(decision)
    }, async (request, reply) => {
      const tenant = jobTenant(request, reply, request.body?.tenant_id, request.params.job_id)
      const voted = await approvals.vote(tenant, request.params.job_id, callerOf(request), { vote: decision, note: request.body?.note, job_hash: request.body?.job_hash }, deadline(request))
        .catch(recordFailure('the vote'))
      request.log.info({ vote: decision, status: voted.status }, 'approval vote recorded')
      if (voted.status !== 'PENDING') waiters.moved(voted.approval_id)
      return voted
    })
  }
  voteRoute('/approvals/:job_id/approve', 'APPROVE')
  voteRoute('/approvals/:job_id/deny', 'DENY')
  voteRoute('/approvals/:job_id/reject', 'DENY')

  app.post<{ Params: { job_id: string }, Body: { tenant_id?: string, reason?: string } }>('/approvals/:job_id/cancel', {
    config: { access: ['scheduler'] },
    schema: approvalCancelRoute
  }, async (request, reply) => {
    const tenant = jobTenant(request, reply, request.body?.tenant_id, request.params.job_id)
    const cancelled = await approvals.cancel(tenant, request.params.job_id, callerOf(request), request.body?.reason, deadline(request))
      .catch(recordFailure('the cancellation'))
    waiters.moved(cancelled.approval_id)
    return cancelled
  })

  app.post<{ Params: { session_id: string }, Body: { tenant_id?: string, reason?: string } }>('/sessions/:session_id/cancel', {
    config: { access: ['scheduler'] },
    schema: sessionCancelRoute
  }, async (request, reply) => {
    const sessionId = request.params.session_id
    const tenant = request.body?.tenant_id ?? DEFAULT_TENANT
    assertTenant(callerOf(request), tenant)
    bindLogFields(request, reply, { tenantId: tenant, sessionId })
    const cancelled = await approvals.cancelSession(tenant, sessionId, callerOf(request), request.body?.reason, deadline(request))
      .catch(recordFailure('the cancellation'))
    for (const a of cancelled) waiters.moved(a.approval_id)
    request.log.info({ sessionId, cancelled: cancelled.length }, 'session cancelled')
    return { tenant_id: tenant, session_id: sessionId, cancelled }
  })
}
