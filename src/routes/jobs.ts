import type { FastifyInstance } from 'fastify'
import { callerOf, jobTenant } from '../auth/plugin.js'
import type { Clock } from '../clock.js'
import { recordFailure } from '../errors/index.js'
import { reportJobEvent, type JobEventRequest } from '../jobs/events.js'
import type { AuditWriter } from '../ledger/writer.js'
import { jobEventRoute } from '../schemas/jobs.js'

export function jobRoutes (app: FastifyInstance, opts: { writer: AuditWriter, clock: Clock, budgetMs: number }): void {
  app.post<{ Params: { job_id: string }, Body: JobEventRequest }>('/jobs/:job_id/events', {
    config: { access: ['scheduler'] },
    schema: jobEventRoute
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
