/**
 * Bearer keys, for admins: create (the token is shown once), list, revoke.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { errorFor } from '../errors/index.js'
import { callerOf } from '../auth/plugin.js'
import { createKey, listKeys, revokeKey, type KeyRequest } from '../auth/keys.js'
import type { KeyLookup } from '../auth/key-lookup.js'
import type { Database } from '../store/db.js'
import { keyCreateRoute, keyListRoute, keyRevokeRoute } from '../schemas/keys.js'

const ADMIN = ['admin'] as const

/** Keys made or revoked without authentication would outlive the mode that let anyone make them. */
async function keysNeedAuthentication (request: FastifyRequest): Promise<void> {
  if (callerOf(request).keyId === null) throw errorFor('keysNeedAuth')
}

/** `keys` forgets a key changed here at once, before the database's notification comes back. */
export function keyRoutes (app: FastifyInstance, opts: { db: Database, keys: KeyLookup }): void {
  app.post<{ Body: KeyRequest }>('/keys', {
    config: { access: ADMIN },
    preHandler: keysNeedAuthentication,
    schema: keyCreateRoute
  }, async (request, reply) => {
    const created = await createKey(opts.db, callerOf(request), request.body)
    opts.keys.invalidate(created.key_id)
    request.log.info({ created: created.key_id, principalId: created.principal_id, kind: created.kind, roles: created.roles, tenants: created.tenants }, 'key created')
    return await reply.code(201).header('cache-control', 'no-store').send(created)
  })

  app.get<{ Querystring: { include_revoked?: 'true' | 'false' } }>('/keys', {
    config: { access: ADMIN },
    schema: keyListRoute
  }, async (request) => {
    return { keys: await listKeys(opts.db, callerOf(request), request.query.include_revoked === 'true') }
  })

  app.delete<{ Params: { key_id: string } }>('/keys/:key_id', {
    config: { access: ADMIN },
    preHandler: keysNeedAuthentication,
    schema: keyRevokeRoute
  }, async (request) => {
    const revoked = await revokeKey(opts.db, callerOf(request), request.params.key_id)
    opts.keys.invalidate(revoked.key_id)
    request.log.info({ revoked: revoked.key_id }, 'key revoked')
    return revoked
  })
}
