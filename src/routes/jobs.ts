import type { FastifyInstance } from 'fastify'
import { callerOf, jobTenant } from '../auth/plugin.js'
import type { Clock } from '../clock.js'
import { recordFailure } from '../errors.js'
import { reportJobEvent, type JobEventRequest } from '../jobs/events.js'
import { nameSchema } from '../policy/request-schema.js'
import { JOB_STATUSES } from '../domain/job-status.js'
import type { AuditWriter } from '../ledger/writer.js'

const idPattern = '^[\\x21-\\x7e]+$'

export function jobRoutes (app: FastifyInstance, opts: { writer: AuditWriter, clock: Clock, budgetMs: number }): void {
  app.post<{ Params: { job_id: string }, Body: JobEventRequest }>('/jobs/:job_id/events', {
    config: { access: ['scheduler'] },
    schema: {
      params: {
        type: 'object',
        required: ['job_id'],
        additionalProperties: false,
        properties: { job_id: { type: 'string', minLength: 1, maxLength: 256, pattern: idPattern } }
      },
      body: {
        type: 'object',
        required: ['status'],
        additionalProperties: false,
        properties: {
          tenant_id: nameSchema,
          status: { type: 'string', enum: JOB_STATUSES },
          detail: { type: 'string', maxLength: 4096 }
        }
      },
      response: {
        201: {
          type: 'object',
          required: ['job_id', 'tenant_id', 'trace_id', 'status', 'seq', 'at', 'signature'],
          additionalProperties: false,
          properties: {
            job_id: { type: 'string' },
            tenant_id: { type: 'string' },
            trace_id: { type: 'string' },
            status: { type: 'string', enum: JOB_STATUSES },
            seq: { type: 'integer' },
            at: { type: 'string', format: 'date-time' },
            signature: { type: 'string' }
          }
        },
        400: { $ref: 'Error#' },
        404: { $ref: 'Error#' },
        409: { $ref: 'Error#' },
        415: { $ref: 'Error#' },
        503: { $ref: 'Error#' }
      }
    }
  }, async (request, reply) => {
    // A foreign tenant's job is refused as an unknown job would be.
    jobTenant(request, reply, request.body.tenant_id, request.params.job_id)
    const caller = callerOf(request)
    const sealed = await reportJobEvent(opts, request.params.job_id, request.body, caller, request.receivedAt + opts.budgetMs)
      .catch(recordFailure('the event'))
    return await reply.code(201).send({
      job_id: request.params.job_id,
      tenant_id: sealed.entry.tenant_id,
      trace_id: sealed.entry.trace_id,
      status: request.body.status,
      seq: sealed.seq,
      at: sealed.entry.at,
      signature: `hmac-sha256:${sealed.keyId}:${sealed.mac}`
    })
  })
}
