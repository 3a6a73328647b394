/**
 * The few reads the web console needs beyond the rest of the API: who the caller is, the
 * reviewer's queue (long-polled for changes), and one approval as a reviewer must judge it.
 */
import { KEY_KINDS, ROLES } from '../domain/roles.js'
import { waitSec } from './approvals.js'
import { closedObject, errorReplies, flag, nameSchema, nullableString, nullableTime, pathParams, printableId, sha256Id, strings } from './common.js'

const whoami = closedObject({
  principal_id: { type: 'string' },
  key_id: nullableString,
  roles: { type: 'array', items: { type: 'string', enum: ROLES } },
  tenants: strings,
  agents: strings,
  kind: { type: 'string', enum: KEY_KINDS }
}, ['principal_id', 'key_id', 'roles', 'tenants', 'agents', 'kind'])

export const whoamiRoute = {
  response: { 200: whoami }
} as const

/** What the caller may do about an approval: whether it waits for their vote, and if they may not vote, why. */
const forMe = {
  awaiting_my_vote: { type: 'boolean' },
  vote_refusal: nullableString
} as const

const queueItem = closedObject({ approval: { $ref: 'Approval#' }, ...forMe }, ['approval', 'awaiting_my_vote', 'vote_refusal'])

/** A queue version as the previous answer gave it. */
const queueVersion = { type: 'string', pattern: '^[0-9a-f]{16}$' } as const

export const queueRoute = {
  querystring: closedObject({
    tenant_id: nameSchema,
    topic: printableId,
    rule_id: printableId,
    risk_tag: nameSchema,
    awaiting_my_vote: flag,
    version: queueVersion,
    wait_sec: waitSec
  }),
  response: {
    200: closedObject({
      version: queueVersion,
      approvals: { type: 'array', items: queueItem },
      truncated: { type: 'boolean' }
    }, ['version', 'approvals', 'truncated']),
    ...errorReplies(400, 429)
  }
} as const

const priorVersion = closedObject({
  approval_id: { type: 'string', format: 'uuid' },
  job_hash: sha256Id,
  job: { type: 'object', additionalProperties: true },
  status: { type: 'string' },
  created_at: nullableTime
}, ['approval_id', 'job_hash', 'job', 'status', 'created_at'])

export const reviewRoute = {
  params: pathParams('job_id', printableId),
  querystring: closedObject({ tenant_id: nameSchema }),
  response: {
    200: closedObject({
      approval: { $ref: 'Approval#' },
      ...forMe,
      command: { anyOf: [{ $ref: 'CommandSummary#' }, { type: 'null' }] },
      derived_risk_tags: strings,
      previous: { anyOf: [priorVersion, { type: 'null' }] }
    }, ['approval', 'awaiting_my_vote', 'vote_refusal', 'command', 'derived_risk_tags', 'previous']),
    ...errorReplies(400, 404)
  }
} as const

/** The console's page; its files. The 200s are HTML, JavaScript or CSS, not JSON, so they declare no schema. */
export const consolePageRoute = {
  response: { ...errorReplies(404) }
} as const

export const consoleFileRoute = {
  params: pathParams('file', { type: 'string', maxLength: 64 }),
  response: { ...errorReplies(404) }
} as const
