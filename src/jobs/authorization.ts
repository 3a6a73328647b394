/**
 * Whether what a scheduler reports of a job is something the job was allowed to do. Pure: the
 * job's state comes from its log. A job runs only on an ALLOW (or ALLOW_WITH_CONSTRAINTS) that
 * is its newest decision; an ALLOW an approval or a grant paid for covers one dispatch. A report
 * that the job ran anyway is still the truth and is recorded, as a violation.
 */
import type { JobStatus } from '../domain/job-status.js'
import type { ViolationKind } from '../domain/violations.js'
import type { JobState } from '../store/log-read.js'

export interface Violation {
  kind: ViolationKind
  reason: string
}

const ALLOWING = new Set(['ALLOW', 'ALLOW_WITH_CONSTRAINTS'])

/** A job reported as cancelled did not run; every other status says it was dispatched or ran. */
export function reportsRunning (status: JobStatus): boolean {
  return status !== 'CANCELLED'
}

/** The violation `status` would be for a job in `job`'s state, or undefined when it was allowed. */
export function violationOf (job: Pick<JobState, 'decision' | 'singleUse' | 'dispatchesSince'>, status: JobStatus): Violation | undefined {
  if (!reportsRunning(status)) return undefined
  if (!ALLOWING.has(job.decision)) {
    return { kind: 'ran_without_allow', reason: `the job was reported ${status}, but its latest decision is ${job.decision}` }
  }
  if (job.singleUse && status === 'DISPATCHED' && job.dispatchesSince > 0) {
    return { kind: 'allow_already_used', reason: 'the job was dispatched again on an ALLOW that an approval or grant gave for one dispatch' }
  }
  return undefined
}
