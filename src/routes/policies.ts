import type { FastifyInstance } from 'fastify'
import { errorFor } from '../errors/index.js'
import type { PolicyHolder } from '../live-policy/holder.js'
import type { Database } from '../store/db.js'
import { getSnapshot } from '../store/snapshots.js'
import { policyCurrentRoute, policyReloadRoute, snapshotRoute } from '../schemas/policies.js'

/**
 * Every role may read the policy, but only with a key that reaches every tenant: a policy can
 * name tenants, and a tenant's key must not learn others' names.
 */
const ANY_ROLE = ['scheduler', 'reviewer', 'auditor'] as const

export function policyRoutes (app: FastifyInstance, opts: { policies: PolicyHolder, db: Database }): void {
  app.get('/policies/current', {
    config: { access: ANY_ROLE, allTenants: true },
    schema: policyCurrentRoute
  }, async () => opts.policies.status())

  app.post('/policies/reload', {
    config: { access: ['admin'], allTenants: true },
    schema: policyReloadRoute
  }, async (request) => {
    const outcome = await opts.policies.reload()
    if (!outcome.ok) throw errorFor('policyInvalid', outcome.error.message, outcome.error.problems)
    request.log.info({ snapshotId: outcome.snapshotId, changed: outcome.changed }, 'policy reloaded on request')
    return opts.policies.status()
  })

  app.get<{ Params: { snapshot_id: string } }>('/policies/snapshots/:snapshot_id', {
    config: { access: ANY_ROLE, allTenants: true },
    schema: snapshotRoute
  }, async (request) => {
    const row = await getSnapshot(opts.db, request.params.snapshot_id)
    if (row === undefined) throw errorFor('noSnapshot', request.params.snapshot_id)
    return { snapshot_id: row.snapshot_id, version: row.version, created_at: new Date(row.created_at).toISOString(), sources: row.sources }
  })
}
