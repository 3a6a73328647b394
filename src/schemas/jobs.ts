/** A job's progress, as the scheduler reports it. */
import { JOB_STATUSES } from '../domain/job-status.js'
import { closedObject, errorReplies, nameSchema, pathParams, printableId, time } from './common.js'

const status = { type: 'string', enum: JOB_STATUSES } as const

export const jobEventRoute = {
  params: pathParams('job_id', printableId),
  body: closedObject({ tenant_id: nameSchema, status, detail: { type: 'string', maxLength: 4096 } }, ['status']),
  response: {
    201: closedObject({
      job_id: { type: 'string' },
      tenant_id: { type: 'string' },
      trace_id: { type: 'string' },
      status,
      seq: { type: 'integer' },
      at: time,
      signature: { type: 'string' }
    }, ['job_id', 'tenant_id', 'trace_id', 'status', 'seq', 'at', 'signature']),
    ...errorReplies(400, 404, 409, 415, 503)
  }
} as const
