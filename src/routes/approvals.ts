/**
 * The reviewers' side: the approval queue, one approval in full, votes, and the scheduler's
 * cancel. Approvals are addressed by job id within a tenant (`tenant_id`, default `default`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { approvalView } from '../approvals/view.js'
import type { ApprovalService, VoteRequest } from '../approvals/service.js'
import { callerOf, jobTenant } from '../auth/plugin.js'
import { tenantFilter } from '../auth/principal.js'
import type { Clock } from '../clock.js'
import { recordFailure } from '../errors.js'
import { nameSchema } from '../policy/request-schema.js'
import { APPROVAL_STATUSES, type ApprovalStatus } from '../domain/approval-status.js'
import { listApprovals, listVotes } from '../store/approvals.js'
import type { Database } from '../store/db.js'
import { pageLimit, pageOf, sha256Id } from './schemas.js'

const REVIEWERS = ['reviewer', 'auditor'] as const
const printable = { type: 'string', minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' } as const
const time = { type: 'string', format: 'date-time' } as const
const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const
const actor = { type: ['object', 'null'], additionalProperties: { type: 'string' } } as const
const jobParams = { type: 'object', required: ['job_id'], additionalProperties: false, properties: { job_id: printable } } as const

const vote = {
  type: 'object',
  required: ['principal_id', 'key_id', 'vote', 'note', 'at'],
  additionalProperties: false,
  properties: { principal_id: { type: 'string' }, key_id: { type: ['string', 'null'] }, vote: { type: 'string', enum: ['APPROVE', 'DENY'] }, note: { type: ['string', 'null'] }, at: time }
} as const

export const approvalSchema = {
  $id: 'Approval',
  type: 'object',
  required: ['approval_id', 'status', 'expires_at', 'approvals_required', 'approvals_received', 'approved_at', 'dispatch_by', 'tenant_id', 'job_id', 'job_hash', 'job', 'job_canonical', 'evidence', 'topic', 'trace_id', 'rule_id', 'reason', 'policy_snapshot', 'requested_by', 'approver_roles', 'dispatch_window_sec', 'created_at', 'resolved_at', 'resolution', 'votes'],
  additionalProperties: false,
  properties: {
    approval_id: { type: 'string', format: 'uuid' },
    status: { type: 'string', enum: APPROVAL_STATUSES },
    expires_at: time,
    approvals_required: { type: 'integer' },
    approvals_received: { type: 'integer' },
    approved_at: nullableTime,
    dispatch_by: nullableTime,
    tenant_id: { type: 'string' },
    job_id: { type: 'string' },
    job_hash: sha256Id,
    job: { type: 'object', additionalProperties: true },
    job_canonical: { type: 'string' },
    evidence: { type: ['object', 'null'], additionalProperties: true },
    topic: { type: 'string' },
    trace_id: { type: 'string' },
    rule_id: { type: ['string', 'null'] },
    reason: { type: 'string' },
    constraints: { $ref: 'Constraints#' },
    policy_snapshot: sha256Id,
    requested_by: actor,
    approver_roles: { type: 'array', items: { type: 'array', items: { type: 'string' } } },
    dispatch_window_sec: { type: 'integer' },
    created_at: time,
    resolved_at: nullableTime,
    resolution: { type: ['object', 'null'], additionalProperties: true },
    votes: { type: 'array', items: vote }
  }
} as const

interface ListQuery { tenant_id?: string, status?: ApprovalStatus, topic?: string, include_resolved?: 'true' | 'false', cursor?: string, limit?: string }

export function approvalRoutes (app: FastifyInstance, opts: { approvals: ApprovalService, db: Database, clock: Clock, budgetMs: number }): void {
  const { approvals } = opts
  const deadline = (request: FastifyRequest): number => request.receivedAt + opts.budgetMs
  app.get<{ Querystring: ListQuery }>('/approvals', {
    config: { access: REVIEWERS },
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          tenant_id: nameSchema,
          status: { type: 'string', enum: APPROVAL_STATUSES },
          topic: printable,
          include_resolved: { type: 'string', enum: ['true', 'false'] },
          cursor: { type: 'string', pattern: '^[1-9][0-9]{0,17}$' },
          limit: pageLimit
        }
      },
      response: {
        200: pageOf('approvals', 'Approval'),
        400: { $ref: 'Error#' }
      }
    }
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

  app.get<{ Params: { job_id: string }, Querystring: { tenant_id?: string } }>('/approvals/:job_id', {
    config: { access: REVIEWERS },
    schema: {
      params: jobParams,
      querystring: { type: 'object', additionalProperties: false, properties: { tenant_id: nameSchema } },
      response: { 200: { $ref: 'Approval#' }, 400: { $ref: 'Error#' }, 404: { $ref: 'Error#' } }
    }
  }, async (request, reply) => {
    return await approvals.get(jobTenant(request, reply, request.query.tenant_id, request.params.job_id), request.params.job_id)
  })

  const voteBody = {
    type: 'object',
    additionalProperties: false,
    properties: { tenant_id: nameSchema, note: { type: 'string', minLength: 1, maxLength: 4096 }, job_hash: sha256Id }
  } as const
  const voteRoute = (path: string, decision: VoteRequest['vote']): void => {
    app.post<{ Params: { job_id: string }, Body: { tenant_id?: string, note?: string, job_hash?: string } }>(path, {
      config: { access: ['reviewer'] },
      schema: {
        params: jobParams,
        body: decision === 'DENY' ? { ...voteBody, required: ['note'] } : voteBody,
        response: { 200: { $ref: 'Approval#' }, 400: { $ref: 'Error#' }, 404: { $ref: 'Error#' }, 409: { $ref: 'Error#' }, 415: { $ref: 'Error#' }, 503: { $ref: 'Error#' } }
      }
    }, async (request, reply) => {
      const tenant = jobTenant(request, reply, request.body?.tenant_id, request.params.job_id)
      const voted = await approvals.vote(tenant, request.params.job_id, callerOf(request), { vote: decision, note: request.body?.note, job_hash: request.body?.job_hash }, deadline(request))
        .catch(recordFailure('the vote'))
      request.log.info({ vote: decision, status: voted.status }, 'approval vote recorded')
      return voted
    })
  }
  voteRoute('/approvals/:job_id/approve', 'APPROVE')
  voteRoute('/approvals/:job_id/deny', 'DENY')
  voteRoute('/approvals/:job_id/reject', 'DENY')

  app.post<{ Params: { job_id: string }, Body: { tenant_id?: string, reason?: string } }>('/approvals/:job_id/cancel', {
    config: { access: ['scheduler'] },
    schema: {
      params: jobParams,
      body: { type: 'object', additionalProperties: false, properties: { tenant_id: nameSchema, reason: { type: 'string', minLength: 1, maxLength: 4096 } } },
      response: { 200: { $ref: 'ApprovalState#' }, 400: { $ref: 'Error#' }, 404: { $ref: 'Error#' }, 409: { $ref: 'Error#' }, 415: { $ref: 'Error#' }, 503: { $ref: 'Error#' } }
    }
  }, async (request, reply) => {
    const tenant = jobTenant(request, reply, request.body?.tenant_id, request.params.job_id)
    return await approvals.cancel(tenant, request.params.job_id, callerOf(request), request.body?.reason, deadline(request))
      .catch(recordFailure('the cancellation'))
  })
}
