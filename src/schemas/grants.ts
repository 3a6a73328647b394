/** Session grants: a grant, and the schemas of making, listing and revoking one. */
import { actor, closedObject, errorReplies, flag, globSchema, nameSchema, nullableTime, opaqueCursor, pageLimit, pageOf, pathParams, printableId, time, uuid } from './common.js'

/** The jobs a grant covers. */
const matchSchema = closedObject({
  topics: { type: 'array', minItems: 1, maxItems: 64, items: globSchema },
  risk_tags: { type: 'array', maxItems: 64, uniqueItems: true, items: nameSchema },
  labels: { type: 'object', maxProperties: 64, propertyNames: nameSchema, additionalProperties: { type: 'string', maxLength: 256 } },
  principals: { type: 'array', minItems: 1, maxItems: 64, items: globSchema }
}, ['topics'])

export const grantSchema = {
  $id: 'Grant',
  type: 'object',
  required: ['grant_id', 'tenant_id', 'session_id', 'match', 'note', 'created_by', 'created_at', 'expires_at', 'max_uses', 'uses', 'revoked_at', 'revoked_by'],
  additionalProperties: false,
  properties: {
    grant_id: uuid,
    tenant_id: { type: 'string' },
    session_id: { type: 'string' },
    match: matchSchema,
    note: { type: 'string' },
    created_by: actor,
    created_at: time,
    expires_at: time,
    max_uses: { type: 'integer' },
    uses: { type: 'integer' },
    revoked_at: nullableTime,
    revoked_by: actor
  }
} as const

const grantReply = { $ref: 'Grant#' } as const

export const grantCreateRoute = {
  body: closedObject({
    tenant_id: nameSchema,
    session_id: printableId,
    match: matchSchema,
    ttl_sec: { type: 'integer', minimum: 1, maximum: 86400 },
    max_uses: { type: 'integer', minimum: 1, maximum: 10000 },
    note: { type: 'string', minLength: 1, maxLength: 4096 }
  }, ['session_id', 'match', 'ttl_sec', 'max_uses', 'note']),
  response: { 201: grantReply, ...errorReplies(400, 404, 415, 503) }
} as const

export const grantListRoute = {
  querystring: closedObject({
    tenant_id: nameSchema,
    session_id: printableId,
    include_inactive: flag,
    cursor: opaqueCursor(256),
    limit: pageLimit
  }),
  response: { 200: pageOf('grants', grantReply), ...errorReplies(400) }
} as const

export const grantRevokeRoute = {
  params: pathParams('grant_id', uuid),
  response: { 200: grantReply, ...errorReplies(400, 404, 503) }
} as const
