/**
 * Job progress reported by the scheduler, recorded in the job's tenant log under the job's
 * trace. The check runs under the log's transaction lock, so two racing terminal reports cannot both
 * be recorded, and two racing dispatches on a one-dispatch ALLOW cannot both pass. A report that
 * the job ran without being allowed to is recorded too, as a `job.violation`, and refused.
 */
import type { AuditEntry, SealedRecord } from '../audit/chain.js'
import { actorOf, speaksForJob, type Principal } from '../auth/principal.js'
import type { Clock } from '../clock.js'
import { errorFor } from '../errors/index.js'
import { DEFAULT_TENANT } from '../policy/job.js'
import { TERMINAL_STATUSES, type JobStatus } from '../domain/job-status.js'
import { jobState } from '../store/log-read.js'
import type { AuditWriter } from '../ledger/writer.js'
import { violationOf, type Violation } from './authorization.js'

export interface JobEventRequest {
  tenant_id?: string
  status: JobStatus
  detail?: string
}

/** What became of a report: an event, or a violation (recorded all the same). */
export type JobReport =
  | { kind: 'event', record: SealedRecord }
  | { kind: 'violation', record: SealedRecord, violation: Violation, decision: string }

export async function reportJobEvent (
  deps: { writer: AuditWriter, clock: Clock },
  jobId: string,
  request: JobEventRequest,
  reporter: Principal,
  deadline: number
): Promise<JobReport> {
  const tenantId = request.tenant_id ?? DEFAULT_TENANT
  const { records, result } = await deps.writer.transact(tenantId, deadline, async (tx) => {
    const job = await jobState(tx, tenantId, jobId)
    // Unknown jobs, and jobs of agents the reporter's key may not speak for, look alike.
    if (job === undefined || !speaksForJob(reporter, job.principalId)) throw errorFor('noJob', jobId)
    if (job.terminal !== null) throw errorFor('jobFinal', jobId, job.terminal)
    const violation = violationOf(job, request.status)
    const detail = request.detail === undefined ? {} : { detail: request.detail }
    const entry: AuditEntry = {
      type: violation === undefined ? 'job.event' : 'job.violation',
      tenant_id: tenantId,
      trace_id: job.traceId,
      job_id: jobId,
      at: deps.clock.now().toISOString(),
      actor: actorOf(reporter),
      body: violation === undefined
        ? { status: request.status, terminal: TERMINAL_STATUSES.includes(request.status), decision_id: job.decisionId, decision: job.decision, ...detail }
        : { status: request.status, kind: violation.kind, reason: violation.reason, decision_id: job.decisionId, decision: job.decision, ...detail }
    }
    return { entries: [entry], result: { violation, decision: job.decision } }
  })
  const record = records[0]
  return result.violation === undefined
    ? { kind: 'event', record }
    : { kind: 'violation', record, violation: result.violation, decision: result.decision }
}
