/**
 * A job's own trace. Every record of a job (its checks, the approval they ask for, its votes, a
 * grant spent on it, the scheduler's events, its output's verdict) goes under one trace id, so a
 * job's story is one timeline even when the scheduler never names a trace. The id is derived from
 * the tenant and the job id, not looked up: a check pays nothing for it, and every instance of
 * Arbiter derives the same one. A caller that names a trace of its own gets its records there;
 * the job's records then span two traces, and each timeline names the other.
 */
import { createHash } from 'node:crypto'

/** `job-` and 32 hex digits (128 bits of SHA-256 over tenant and job id). */
export function jobTraceId (tenantId: string, jobId: string): string {
  return `job-${createHash('sha256').update(`${tenantId}\n${jobId}`).digest('hex').slice(0, 32)}`
}
