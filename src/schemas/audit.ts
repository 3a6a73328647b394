/** The audit routes: the signing keys, and a tenant log's signed checkpoints. */
import { closedObject, errorReplies, nameSchema, nullableTime, sha256Id, time } from './common.js'

export const checkpointSchema = {
  $id: 'Checkpoint',
  type: 'object',
  required: ['tenant_id', 'seq', 'head_hash', 'at', 'key_id', 'statement', 'signature'],
  additionalProperties: false,
  properties: {
    tenant_id: { type: 'string' },
    seq: { type: 'integer' },
    head_hash: sha256Id,
    at: time,
    key_id: { type: 'string' },
    statement: { type: 'string' },
    signature: { type: 'string' }
  }
} as const

const signingKey = closedObject({
  key_id: { type: 'string' },
  algorithm: { type: 'string', enum: ['ed25519', 'hmac-sha256'] },
  public_key: { type: ['string', 'null'] },
  valid_from: time,
  valid_until: nullableTime
}, ['key_id', 'algorithm', 'public_key', 'valid_from', 'valid_until'])

export const auditKeysRoute = {
  response: { 200: closedObject({ keys: { type: 'array', items: signingKey } }, ['keys']) }
} as const

export const checkpointListRoute = {
  querystring: closedObject({
    tenant_id: nameSchema,
    after_seq: { type: 'string', pattern: '^[0-9]{1,15}$' },
    limit: { type: 'string', pattern: '^([1-9][0-9]{0,2}|1000)$' }
  }),
  response: {
    200: closedObject({ tenant_id: { type: 'string' }, checkpoints: { type: 'array', items: { $ref: 'Checkpoint#' } } }, ['tenant_id', 'checkpoints']),
    ...errorReplies(400)
  }
} as const

export const latestCheckpointsRoute = {
  response: {
    200: closedObject({ checkpoints: { type: 'array', items: { $ref: 'Checkpoint#' } } }, ['checkpoints'])
  }
} as const
