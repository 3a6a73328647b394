/** Bearer keys, as admins create, list and revoke them; a token is shown once, at creation. */
import { KEY_KINDS, ROLES } from '../domain/roles.js'
import { closedObject, errorReplies, flag, NAME_PATTERN, nameSchema, nullableString, nullableTime, pathParams, printableId, strings, time } from './common.js'

const keyId = { type: 'string', pattern: '^key_[0-9a-f]{16}$' } as const
/** A tenant id, or `*` for every tenant. */
const tenant = { ...nameSchema, pattern: `^(${NAME_PATTERN.slice(1, -1)}|\\*)$` } as const
const roles = { type: 'array', minItems: 1, maxItems: 4, uniqueItems: true, items: { type: 'string', enum: ROLES } } as const
const tenants = { type: 'array', minItems: 1, maxItems: 1000, uniqueItems: true, items: tenant } as const
const agents = { type: 'array', minItems: 1, maxItems: 100, uniqueItems: true, items: printableId } as const
/** Who holds the key: only a person's key votes on approvals or makes grants. */
const kind = { type: 'string', enum: KEY_KINDS } as const

const keyProperties = {
  key_id: keyId,
  principal_id: { type: 'string' },
  roles,
  tenants: strings,
  agents: strings,
  kind,
  created_at: time,
  created_by: { type: 'string' },
  revoked_at: nullableTime,
  revoked_by: nullableString
} as const
const keyRequired = ['key_id', 'principal_id', 'roles', 'tenants', 'agents', 'kind', 'created_at', 'created_by', 'revoked_at', 'revoked_by'] as const
const key = closedObject(keyProperties, keyRequired)

export const keyCreateRoute = {
  body: closedObject({ principal_id: printableId, roles, tenants, agents, kind }, ['principal_id', 'roles', 'tenants']),
  response: {
    201: closedObject({ ...keyProperties, token: { type: 'string' } }, [...keyRequired, 'token']),
    ...errorReplies(400, 415)
  }
} as const

export const keyListRoute = {
  querystring: closedObject({ include_revoked: flag }),
  response: { 200: closedObject({ keys: { type: 'array', items: key } }, ['keys']), ...errorReplies(400) }
} as const

export const keyRevokeRoute = {
  params: pathParams('key_id', keyId),
  response: { 200: key, ...errorReplies(400, 404, 409, 415) }
} as const
