import type { FastifyInstance } from 'fastify'
import { callerOf, jobTenant } from '../auth/plugin.js'
import type { Clock } from '../clock.js'
import { errorBodyFor, recordFailure } from '../errors/index.js'
import { reportJobEvent, type JobEventRequest } from '../jobs/events.js'
import type { AuditWriter } from '../ledger/writer.js'
import type { Metrics } from '../metrics.js'
import { jobEventRoute } from '../schemas/jobs.js'

export function jobRoutes (app: FastifyInstance, opts: { writer: AuditWriter, clock: Clock, metrics: Metrics, budgetMs: number }): void {
  app.post<{ Params: { job_id: string }, Body: JobEventRequest }>('/jobs/:job_id/events', {
    config: { access: ['scheduler'] },
    schema: jobEventRoute
  }, async (request, reply) => {
    // A foreign tenant's job is refused as an unknown job would be.
    jobTenant(request, reply, request.body.tenant_id, request.params.job_id)
    const caller = callerOf(request)
    const report = await reportJobEvent(opts, request.params.job_id, request.body, caller, request.receivedAt + opts.budgetMs)
      .catch(recordFailure('the event'))
    const { record } = report
    const recorded = { tenant_id: record.entry.tenant_id, trace_id: record.entry.trace_id, seq: record.seq, at: record.entry.at, signature: `hmac-sha256:${record.keyId}:${record.mac}` }
    if (report.kind === 'violation') {
      const { kind, reason } = report.violation
      opts.metrics.violations.inc({ tenant: recorded.tenant_id, kind })
      request.log.warn({ violation: kind, status: request.body.status, decision: report.decision, seq: record.seq }, 'job reported running without an ALLOW that covers it')
      return await reply.code(409).send({
        ...errorBodyFor('notAuthorized', request.params.job_id, reason, recorded.tenant_id, record.seq),
        violation: { job_id: request.params.job_id, ...recorded, status: request.body.status, kind, decision: report.decision }
      })
    }
    return await reply.code(201).send({ job_id: request.params.job_id, ...recorded, status: request.body.status })
  })
}
