/**
 * Job progress reported by the scheduler, recorded in the job's tenant log under the job's
 * trace. The check runs under the log's transaction lock, so two racing terminal reports cannot both
 * be recorded.
 */
import type { AuditEntry, SealedRecord } from '../audit/chain.js'
import { actorOf, speaksForJob, type Principal } from '../auth/principal.js'
import type { Clock } from '../clock.js'
import { errorFor } from '../errors/index.js'
import { DEFAULT_TENANT } from '../policy/job.js'
import { TERMINAL_STATUSES, type JobStatus } from '../domain/job-status.js'
import { jobState } from '../store/log-read.js'
import type { AuditWriter } from '../ledger/writer.js'

export interface JobEventRequest {
  tenant_id?: string
  status: JobStatus
  detail?: string
}

export async function reportJobEvent (
  deps: { writer: AuditWriter, clock: Clock },
  jobId: string,
  request: JobEventRequest,
  reporter: Principal,
  deadline: number
): Promise<SealedRecord> {
  const tenantId = request.tenant_id ?? DEFAULT_TENANT
  const { records } = await deps.writer.transact(tenantId, deadline, async (tx) => {
    const job = await jobState(tx, tenantId, jobId)
    // Unknown jobs, and jobs of agents the reporter's key may not speak for, look alike.
    if (job === undefined || !speaksForJob(reporter, job.principalId)) throw errorFor('noJob', jobId)
    if (job.terminal !== null) throw errorFor('jobFinal', jobId, job.terminal)
    const entry: AuditEntry = {
      type: 'job.event',
      tenant_id: tenantId,
      trace_id: job.traceId,
      job_id: jobId,
      at: deps.clock.now().toISOString(),
      actor: actorOf(reporter),
      body: {
        status: request.status,
        terminal: TERMINAL_STATUSES.includes(request.status),
        decision_id: job.decisionId,
        decision: job.decision,
        ...(request.detail === undefined ? {} : { detail: request.detail })
      }
    }
    return { entries: [entry], result: undefined }
  })
  return records[0]
}
