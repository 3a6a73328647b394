/** Session grants, for reviewers: create, list, revoke. */
import type { FastifyInstance } from 'fastify'
import type { GrantRequest, GrantService } from '../approvals/grants.js'
import { grantView } from '../approvals/view.js'
import { assertTenant, callerOf } from '../auth/plugin.js'
import { coversTenant, tenantFilter } from '../auth/principal.js'
import type { Clock } from '../clock.js'
import { DEFAULT_TENANT } from '../policy/job.js'
import { globSchema, nameSchema } from '../policy/request-schema.js'
import { ArbiterError, recordFailure } from '../errors.js'
import { pageLimit, pageOf } from './schemas.js'

const printable = { type: 'string', minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' } as const
const time = { type: 'string', format: 'date-time' } as const
const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const
const actor = { type: ['object', 'null'], additionalProperties: { type: 'string' } } as const

const matchSchema = {
  type: 'object',
  required: ['topics'],
  additionalProperties: false,
  properties: {
    topics: { type: 'array', minItems: 1, maxItems: 64, items: globSchema },
    risk_tags: { type: 'array', maxItems: 64, uniqueItems: true, items: nameSchema },
    labels: { type: 'object', maxProperties: 64, propertyNames: nameSchema, additionalProperties: { type: 'string', maxLength: 256 } },
    principals: { type: 'array', minItems: 1, maxItems: 64, items: globSchema }
  }
} as const

export const grantSchema = {
  $id: 'Grant',
  type: 'object',
  required: ['grant_id', 'tenant_id', 'session_id', 'match', 'note', 'created_by', 'created_at', 'expires_at', 'max_uses', 'uses', 'revoked_at', 'revoked_by'],
  additionalProperties: false,
  properties: {
    grant_id: { type: 'string', format: 'uuid' },
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

export function grantRoutes (app: FastifyInstance, opts: { grants: GrantService, clock: Clock, budgetMs: number }): void {
  app.post<{ Body: Omit<GrantRequest, 'tenant_id'> & { tenant_id?: string } }>('/grants', {
    config: { access: ['reviewer'] },
    schema: {
      body: {
        type: 'object',
        required: ['session_id', 'match', 'ttl_sec', 'max_uses', 'note'],
        additionalProperties: false,
        properties: {
          tenant_id: nameSchema,
          session_id: printable,
          match: matchSchema,
          ttl_sec: { type: 'integer', minimum: 1, maximum: 86400 },
          max_uses: { type: 'integer', minimum: 1, maximum: 10000 },
          note: { type: 'string', minLength: 1, maxLength: 4096 }
        }
      },
      response: { 201: { $ref: 'Grant#' }, 400: { $ref: 'Error#' }, 404: { $ref: 'Error#' }, 415: { $ref: 'Error#' }, 503: { $ref: 'Error#' } }
    }
  }, async (request, reply) => {
    const caller = callerOf(request)
    const tenantId = request.body.tenant_id ?? DEFAULT_TENANT
    assertTenant(caller, tenantId)
    // A grant stands in for its maker's approval: a key that cannot be checked against a person cannot make one.
    if (caller.keyId === null) throw new ArbiterError('ARBITER_ERR_FORBIDDEN', 'grants cannot be made while ARBITER_AUTH=disabled')
    const grant = await opts.grants.create(caller, { ...request.body, tenant_id: tenantId }, request.receivedAt + opts.budgetMs)
      .catch(recordFailure('the grant'))
    request.log.info({ grantId: grant.grant_id, tenantId, sessionId: request.body.session_id }, 'grant created')
    return await reply.code(201).send(grant)
  })

  app.get<{ Querystring: { tenant_id?: string, session_id?: string, include_inactive?: 'true' | 'false', cursor?: string, limit?: string } }>('/grants', {
    config: { access: ['reviewer', 'auditor'] },
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          tenant_id: nameSchema,
          session_id: printable,
          include_inactive: { type: 'string', enum: ['true', 'false'] },
          cursor: { type: 'string', maxLength: 256, pattern: '^[A-Za-z0-9_-]+$' },
          limit: pageLimit
        }
      },
      response: {
        200: pageOf('grants', 'Grant'),
        400: { $ref: 'Error#' }
      }
    }
  }, async (request) => {
    const q = request.query
    const limit = Number(q.limit ?? 50)
    const rows = await opts.grants.list({
      tenants: tenantFilter(callerOf(request)),
      tenantId: q.tenant_id,
      sessionId: q.session_id,
      liveAt: q.include_inactive === 'true' ? undefined : opts.clock.now(),
      afterId: q.cursor === undefined ? undefined : decodeCursor(q.cursor)
    }, limit + 1)
    const page = rows.slice(0, limit)
    const last = page[page.length - 1]
    return {
      grants: page.map(grantView),
      next_cursor: rows.length > limit ? Buffer.from(JSON.stringify([new Date(last.created_at).toISOString(), last.grant_id])).toString('base64url') : null
    }
  })

  app.delete<{ Params: { grant_id: string } }>('/grants/:grant_id', {
    config: { access: ['reviewer'] },
    schema: {
      params: { type: 'object', required: ['grant_id'], additionalProperties: false, properties: { grant_id: { type: 'string', format: 'uuid' } } },
      response: { 200: { $ref: 'Grant#' }, 400: { $ref: 'Error#' }, 404: { $ref: 'Error#' }, 503: { $ref: 'Error#' } }
    }
  }, async (request) => {
    const caller = callerOf(request)
    const revoked = await opts.grants.revoke(caller, request.params.grant_id, (t) => coversTenant(caller, t), request.receivedAt + opts.budgetMs)
      .catch(recordFailure('the revocation'))
    request.log.info({ grantId: revoked.grant_id }, 'grant revoked')
    return revoked
  })
}

function decodeCursor (cursor: string): { createdAt: Date, grantId: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string]
    const createdAt = new Date(at)
    // Only what this service hands out: an ISO time from year 1 on, and a UUID.
    if (typeof at === 'string' && /^(?!0000)\d{4}-\d{2}-\d{2}T/.test(at) && !Number.isNaN(createdAt.getTime()) &&
      typeof id === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) return { createdAt, grantId: id }
  } catch {}
  throw new ArbiterError('ARBITER_ERR_VALIDATION', 'querystring.cursor is not a cursor this service gave out')
}
