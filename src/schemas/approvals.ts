/**
 * Approvals: an approval's state (as /check answers carry it), the full approval reviewers see,
 * and the schemas of the queue, one approval, a vote and the scheduler's cancel.
 */
import { APPROVAL_STATUSES } from '../domain/approval-status.js'
import { actor, closedObject, errorReplies, flag, nameSchema, nullableTime, pageLimit, pageOf, pathParams, printableId, sha256Id, time, uuid } from './common.js'

export const approvalStateSchema = {
  $id: 'ApprovalState',
  type: 'object',
  required: ['approval_id', 'status', 'expires_at', 'approvals_required', 'approvals_received', 'approved_at', 'dispatch_by'],
  additionalProperties: false,
  properties: {
    approval_id: uuid,
    status: { type: 'string', enum: APPROVAL_STATUSES },
    // Null while QUEUED: its clock starts at its turn.
    expires_at: nullableTime,
    approvals_required: { type: 'integer' },
    approvals_received: { type: 'integer' },
    approved_at: nullableTime,
    dispatch_by: nullableTime,
    queued_behind: { type: 'string', description: 'QUEUED only: the job in front of reviewers in this session' }
  }
} as const

const vote = closedObject({
  principal_id: { type: 'string' },
  key_id: { type: ['string', 'null'] },
  vote: { type: 'string', enum: ['APPROVE', 'DENY'] },
  note: { type: ['string', 'null'] },
  at: time
}, ['principal_id', 'key_id', 'vote', 'note', 'at'])

/** An approval in full: its state, the job it is about, and the votes so far. */
export const approvalSchema = {
  $id: 'Approval',
  type: 'object',
  required: [...approvalStateSchema.required, 'tenant_id', 'job_id', 'job_hash', 'job', 'job_canonical', 'evidence', 'topic', 'trace_id', 'rule_id', 'reason', 'policy_snapshot', 'requested_by', 'approver_roles', 'dispatch_window_sec', 'created_at', 'resolved_at', 'resolution', 'votes'],
  additionalProperties: false,
  properties: {
    ...approvalStateSchema.properties,
    tenant_id: { type: 'string' },
    job_id: { type: 'string' },
    job_hash: sha256Id,
    job: { type: 'object', additionalProperties: true },
    job_canonical: { type: 'string' },
    evidence: { type: ['object', 'null'], additionalProperties: true },
    topic: { type: 'string' },
    trace_id: { type: 'string' },
    rule_id: { type: ['string', 'null'] },
    reason: { type: 'string' },
    constraints: { $ref: 'Constraints#' },
    policy_snapshot: sha256Id,
    requested_by: actor,
    approver_roles: { type: 'array', items: { type: 'array', items: { type: 'string' } } },
    dispatch_window_sec: { type: 'integer' },
    session_id: { type: ['string', 'null'] },
    single_flight: { type: 'boolean' },
    created_at: time,
    resolved_at: nullableTime,
    resolution: { type: ['object', 'null'], additionalProperties: true },
    votes: { type: 'array', items: vote }
  }
} as const

const jobParams = pathParams('job_id', printableId)
const approvalReply = { $ref: 'Approval#' } as const

export const approvalListRoute = {
  querystring: closedObject({
    tenant_id: nameSchema,
    status: { type: 'string', enum: APPROVAL_STATUSES },
    topic: printableId,
    include_resolved: flag,
    cursor: { type: 'string', pattern: '^[1-9][0-9]{0,17}$' },
    limit: pageLimit
  }),
  response: { 200: pageOf('approvals', approvalReply), ...errorReplies(400) }
} as const

/** `wait_sec` of a scheduler's wait for a decision: whole seconds 0–60, as a querystring string. */
export const waitSec = { type: 'string', pattern: '^([0-9]|[1-5][0-9]|60)$' } as const

export const approvalGetRoute = {
  params: jobParams,
  querystring: closedObject({ tenant_id: nameSchema, wait_sec: waitSec }),
  response: { 200: approvalReply, ...errorReplies(400, 404, 429) }
} as const

const voteBody = closedObject({ tenant_id: nameSchema, note: { type: 'string', minLength: 1, maxLength: 4096 }, job_hash: sha256Id })

/** A vote: a deny must say why. */
export function approvalVoteRoute (decision: 'APPROVE' | 'DENY'): Record<string, unknown> {
  return {
    params: jobParams,
    body: decision === 'DENY' ? { ...voteBody, required: ['note'] } : voteBody,
    response: { 200: approvalReply, ...errorReplies(400, 404, 409, 415, 503) }
  }
}

export const approvalCancelRoute = {
  params: jobParams,
  body: closedObject({ tenant_id: nameSchema, reason: { type: 'string', minLength: 1, maxLength: 4096 } }),
  response: { 200: { $ref: 'ApprovalState#' }, ...errorReplies(400, 404, 409, 415, 503) }
} as const

export const sessionCancelRoute = {
  params: pathParams('session_id', printableId),
  body: closedObject({ tenant_id: nameSchema, reason: { type: 'string', minLength: 1, maxLength: 4096 } }),
  response: {
    200: closedObject({
      tenant_id: { type: 'string' },
      session_id: { type: 'string' },
      cancelled: { type: 'array', items: { $ref: 'ApprovalState#' } }
    }, ['tenant_id', 'session_id', 'cancelled']),
    ...errorReplies(400, 415, 503)
  }
} as const
