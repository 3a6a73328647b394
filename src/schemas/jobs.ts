/** A job's progress, as the scheduler reports it; a job's story, as an auditor reads it. */
import { VIOLATION_KINDS } from '../domain/violations.js'
import { JOB_STATUSES } from '../domain/job-status.js'
import { closedObject, errorReplies, nameSchema, pathParams, printableId, time } from './common.js'

const status = { type: 'string', enum: JOB_STATUSES } as const

const recorded = {
  job_id: { type: 'string' },
  tenant_id: { type: 'string' },
  trace_id: { type: 'string' },
  status,
  seq: { type: 'integer' },
  at: time,
  signature: { type: 'string' }
} as const

/** The 409 of a report that the job ran without an ALLOW: the error, and the violation's record. */
const violationReply = closedObject({
  statusCode: { type: 'integer' },
  code: { type: 'string' },
  error: { type: 'string' },
  message: { type: 'string' },
  violation: closedObject({
    ...recorded,
    kind: { type: 'string', enum: VIOLATION_KINDS },
    decision: { type: 'string' }
  }, ['job_id', 'tenant_id', 'trace_id', 'status', 'seq', 'at', 'signature', 'kind', 'decision'])
}, ['statusCode', 'code', 'error', 'message'])

export const jobEventRoute = {
  params: pathParams('job_id', printableId),
  body: closedObject({ tenant_id: nameSchema, status, detail: { type: 'string', maxLength: 4096 } }, ['status']),
  response: {
    201: closedObject(recorded, ['job_id', 'tenant_id', 'trace_id', 'status', 'seq', 'at', 'signature']),
    409: violationReply,
    ...errorReplies(400, 404, 415, 503)
  }
} as const
