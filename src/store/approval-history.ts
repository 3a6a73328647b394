/**
 * Earlier approvals of one job, for the reviewer's diff against the content asked before. Read
 * only; the approvals themselves are written in store/approvals.ts.
 */
import type { ApprovalStatus } from '../domain/approval-status.js'
import type { Queryable } from './db.js'

export interface PriorApproval {
  approval_id: string
  job_hash: string
  /** The canonical JSON of the job as hashed. */
  job: string
  status: ApprovalStatus
  created_at: Date
}

/** The newest approval of the job before `beforeApprovalId` whose content (hash) differs from `jobHash`. */
export async function getPriorVersion (q: Queryable, tenantId: string, jobId: string, beforeApprovalId: string, jobHash: string): Promise<PriorApproval | undefined> {
  const { rows } = await q.query<PriorApproval>(
    `select approval_id, job_hash, job, status, created_at from approvals
     where tenant_id = $1 and job_id = $2 and job_hash <> $3
       and ordinal < (select ordinal from approvals where approval_id = $4)
     order by ordinal desc limit 1`,
    [tenantId, jobId, jobHash, beforeApprovalId]
  )
  return rows[0]
}
