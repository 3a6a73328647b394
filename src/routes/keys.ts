/**
 * Bearer keys, for admins: create (the token is shown once), list, revoke.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ArbiterError } from '../errors.js'
import { callerOf } from '../auth/plugin.js'
import { createKey, listKeys, revokeKey, type KeyRequest } from '../auth/keys.js'
import { ROLES } from '../domain/roles.js'
import { NAME_PATTERN, nameSchema } from '../policy/request-schema.js'
import type { Database } from '../store/db.js'

const ADMIN = ['admin'] as const
const keyId = { type: 'string', pattern: '^key_[0-9a-f]{16}$' } as const
/** A tenant id, or `*` for every tenant. */
const tenant = { ...nameSchema, pattern: `^(${NAME_PATTERN.slice(1, -1)}|\\*)$` } as const
const printable = { type: 'string', minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' } as const
const roles = { type: 'array', minItems: 1, maxItems: 4, uniqueItems: true, items: { type: 'string', enum: ROLES } } as const
const tenants = { type: 'array', minItems: 1, maxItems: 1000, uniqueItems: true, items: tenant } as const
const agents = { type: 'array', minItems: 1, maxItems: 100, uniqueItems: true, items: printable } as const
const time = { type: 'string', format: 'date-time' } as const

const keyProperties = {
  key_id: keyId,
  principal_id: { type: 'string' },
  roles,
  tenants: { type: 'array', items: { type: 'string' } },
  agents: { type: 'array', items: { type: 'string' } },
  created_at: time,
  created_by: { type: 'string' },
  revoked_at: { type: ['string', 'null'], format: 'date-time' },
  revoked_by: { type: ['string', 'null'] }
} as const
const keyRequired = ['key_id', 'principal_id', 'roles', 'tenants', 'agents', 'created_at', 'created_by', 'revoked_at', 'revoked_by'] as const
const keySchema = { type: 'object', required: keyRequired, additionalProperties: false, properties: keyProperties } as const

/** Keys made or revoked without authentication would outlive the mode that let anyone make them. */
async function keysNeedAuthentication (request: FastifyRequest): Promise<void> {
  if (callerOf(request).keyId === null) {
    throw new ArbiterError('ARBITER_ERR_FORBIDDEN', 'keys cannot be created or revoked while ARBITER_AUTH=disabled; use `arbiter keys` on the database')
  }
}

export function keyRoutes (app: FastifyInstance, opts: { db: Database }): void {
  app.post<{ Body: KeyRequest }>('/keys', {
    config: { access: ADMIN },
    preHandler: keysNeedAuthentication,
    schema: {
      body: {
        type: 'object',
        required: ['principal_id', 'roles', 'tenants'],
        additionalProperties: false,
        properties: { principal_id: printable, roles, tenants, agents }
      },
      response: {
        201: { type: 'object', required: [...keyRequired, 'token'], additionalProperties: false, properties: { ...keyProperties, token: { type: 'string' } } },
        400: { $ref: 'Error#' },
        415: { $ref: 'Error#' }
      }
    }
  }, async (request, reply) => {
    const created = await createKey(opts.db, callerOf(request), request.body)
    request.log.info({ created: created.key_id, principalId: created.principal_id, roles: created.roles, tenants: created.tenants }, 'key created')
    return await reply.code(201).header('cache-control', 'no-store').send(created)
  })

  app.get<{ Querystring: { include_revoked?: 'true' | 'false' } }>('/keys', {
    config: { access: ADMIN },
    schema: {
      querystring: { type: 'object', additionalProperties: false, properties: { include_revoked: { type: 'string', enum: ['true', 'false'] } } },
      response: {
        200: { type: 'object', required: ['keys'], additionalProperties: false, properties: { keys: { type: 'array', items: keySchema } } },
        400: { $ref: 'Error#' }
      }
    }
  }, async (request) => {
    return { keys: await listKeys(opts.db, callerOf(request), request.query.include_revoked === 'true') }
  })

  app.delete<{ Params: { key_id: string } }>('/keys/:key_id', {
    config: { access: ADMIN },
    preHandler: keysNeedAuthentication,
    schema: {
      params: { type: 'object', required: ['key_id'], additionalProperties: false, properties: { key_id: keyId } },
      response: { 200: keySchema, 400: { $ref: 'Error#' }, 404: { $ref: 'Error#' }, 409: { $ref: 'Error#' }, 415: { $ref: 'Error#' } }
    }
  }, async (request) => {
    const revoked = await revokeKey(opts.db, callerOf(request), request.params.key_id)
    request.log.info({ revoked: revoked.key_id }, 'key revoked')
    return revoked
  })
}
