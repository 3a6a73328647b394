import type { FastifyInstance } from 'fastify'
import { ArbiterError } from '../errors.js'
import type { PolicyHolder } from '../live-policy/holder.js'
import type { Database } from '../store/db.js'
import { getSnapshot } from '../store/snapshots.js'
import { sha256Id } from './schemas.js'

const reloadError = {
  type: ['object', 'null'],
  required: ['at', 'message', 'problems'],
  additionalProperties: false,
  properties: { at: { type: 'string', format: 'date-time' }, message: { type: 'string' }, problems: { type: 'array', items: { type: 'string' } } }
} as const

const policyStatus = {
  type: 'object',
  required: ['snapshot_id', 'version', 'rule_count', 'files', 'loaded_at', 'last_reload_error'],
  additionalProperties: false,
  properties: {
    snapshot_id: sha256Id,
    version: { type: 'string' },
    rule_count: { type: 'integer' },
    files: { type: 'array', items: { type: 'string' } },
    loaded_at: { type: 'string', format: 'date-time' },
    last_reload_error: reloadError
  }
} as const

/**
 * Every role may read the policy, but only with a key that reaches every tenant: a policy can
 * name tenants, and a tenant's key must not learn others' names.
 */
const ANY_ROLE = ['scheduler', 'reviewer', 'auditor'] as const

export function policyRoutes (app: FastifyInstance, opts: { policies: PolicyHolder, db: Database }): void {
  app.get('/policies/current', {
    config: { access: ANY_ROLE, allTenants: true },
    schema: { response: { 200: policyStatus } }
  }, async () => opts.policies.status())

  app.post('/policies/reload', {
    config: { access: ['admin'], allTenants: true },
    // It takes no body; one sent as malformed JSON or another media type is refused all the same.
    schema: { response: { 200: policyStatus, 400: { $ref: 'Error#' }, 415: { $ref: 'Error#' }, 422: { $ref: 'Error#' } } }
  }, async (request) => {
    const outcome = await opts.policies.reload()
    if (!outcome.ok) {
      throw new ArbiterError('ARBITER_ERR_POLICY_INVALID', `${outcome.error.message}: ${outcome.error.problems.join('; ')}`)
    }
    request.log.info({ snapshotId: outcome.snapshotId, changed: outcome.changed }, 'policy reloaded on request')
    return opts.policies.status()
  })

  app.get<{ Params: { snapshot_id: string } }>('/policies/snapshots/:snapshot_id', {
    config: { access: ANY_ROLE, allTenants: true },
    schema: {
      params: {
        type: 'object',
        required: ['snapshot_id'],
        additionalProperties: false,
        properties: { snapshot_id: sha256Id }
      },
      response: {
        200: {
          type: 'object',
          required: ['snapshot_id', 'version', 'created_at', 'sources'],
          additionalProperties: false,
          properties: {
            snapshot_id: sha256Id,
            version: { type: 'string' },
            created_at: { type: 'string', format: 'date-time' },
            sources: {
              type: 'array',
              items: {
                type: 'object',
                required: ['file', 'text'],
                additionalProperties: false,
                properties: { file: { type: 'string' }, text: { type: 'string' } }
              }
            }
          }
        },
        400: { $ref: 'Error#' },
        404: { $ref: 'Error#' }
      }
    }
  }, async (request) => {
    const row = await getSnapshot(opts.db, request.params.snapshot_id)
    if (row === undefined) throw new ArbiterError('ARBITER_ERR_NOT_FOUND', `no policy snapshot ${request.params.snapshot_id}`)
    return { snapshot_id: row.snapshot_id, version: row.version, created_at: new Date(row.created_at).toISOString(), sources: row.sources }
  })
}
