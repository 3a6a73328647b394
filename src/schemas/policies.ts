/** The policy in force, its reload, and the snapshots of every policy that has been in force. */
import { closedObject, errorReplies, pathParams, sha256Id, strings, time } from './common.js'

/** Why the last reload failed, or null when it did not. */
const reloadError = {
  type: ['object', 'null'],
  required: ['at', 'message', 'problems'],
  additionalProperties: false,
  properties: { at: time, message: { type: 'string' }, problems: strings }
} as const

const policyStatus = closedObject({
  snapshot_id: sha256Id,
  version: { type: 'string' },
  rule_count: { type: 'integer' },
  files: strings,
  loaded_at: time,
  /** The key id that signed the files in force; null unless POLICY_TRUSTED_KEYS requires a signature. */
  signed_by: { type: ['string', 'null'], pattern: '^ek_[0-9a-f]{16}$' },
  last_reload_error: reloadError
}, ['snapshot_id', 'version', 'rule_count', 'files', 'loaded_at', 'signed_by', 'last_reload_error'])

export const policyCurrentRoute = {
  response: { 200: policyStatus }
} as const

/** It takes no body; one sent as malformed JSON or another media type is refused all the same. */
export const policyReloadRoute = {
  response: { 200: policyStatus, ...errorReplies(400, 415, 422) }
} as const

export const snapshotRoute = {
  params: pathParams('snapshot_id', sha256Id),
  response: {
    200: closedObject({
      snapshot_id: sha256Id,
      version: { type: 'string' },
      created_at: time,
      sources: { type: 'array', items: closedObject({ file: { type: 'string' }, text: { type: 'string' } }, ['file', 'text']) }
    }, ['snapshot_id', 'version', 'created_at', 'sources']),
    ...errorReplies(400, 404)
  }
} as const
