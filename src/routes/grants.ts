/** Session grants, for reviewers: create, list, revoke. */
import type { FastifyInstance } from 'fastify'
import type { GrantRequest, GrantService } from '../approvals/grants.js'
import { grantView } from '../approvals/view.js'
import { assertTenant, callerOf } from '../auth/plugin.js'
import { coversTenant, isPerson, tenantFilter } from '../auth/principal.js'
import type { Clock } from '../clock.js'
import { DEFAULT_TENANT } from '../policy/job.js'
import { errorFor, recordFailure } from '../errors/index.js'
import { grantCreateRoute, grantListRoute, grantRevokeRoute } from '../schemas/grants.js'

export function grantRoutes (app: FastifyInstance, opts: { grants: GrantService, clock: Clock, budgetMs: number }): void {
  app.post<{ Body: Omit<GrantRequest, 'tenant_id'> & { tenant_id?: string } }>('/grants', {
    config: { access: ['reviewer'] },
    schema: grantCreateRoute
  }, async (request, reply) => {
    const caller = callerOf(request)
    const tenantId = request.body.tenant_id ?? DEFAULT_TENANT
    assertTenant(caller, tenantId)
    // A grant stands in for its maker's approval: a key that cannot be checked against a person cannot make one.
    if (caller.keyId === null) throw errorFor('grantsNeedAuth')
    // It stands in for a person's approval: an agent's key cannot make one, whatever its roles.
    if (!isPerson(caller)) throw errorFor('grantsNeedPerson')
    const grant = await opts.grants.create(caller, { ...request.body, tenant_id: tenantId }, request.receivedAt + opts.budgetMs)
      .catch(recordFailure('the grant'))
    request.log.info({ grantId: grant.grant_id, tenantId, sessionId: request.body.session_id }, 'grant created')
    return await reply.code(201).send(grant)
  })

  app.get<{ Querystring: { tenant_id?: string, session_id?: string, include_inactive?: 'true' | 'false', cursor?: string, limit?: string } }>('/grants', {
    config: { access: ['reviewer', 'auditor'] },
    schema: grantListRoute
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
    schema: grantRevokeRoute
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
  throw errorFor('foreignCursor')
}
