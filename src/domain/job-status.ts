/** What a scheduler reports of a job after its decision. */
export const JOB_STATUSES = ['DISPATCHED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'] as const
export type JobStatus = typeof JOB_STATUSES[number]
/** A job reports at most one of these. */
export const TERMINAL_STATUSES: readonly JobStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT']
