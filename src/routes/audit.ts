import type { FastifyInstance } from 'fastify'
import { callerOf } from '../auth/plugin.js'
import { coversTenant, tenantFilter } from '../auth/principal.js'
import { DEFAULT_TENANT } from '../policy/job.js'
import { auditKeysRoute, checkpointListRoute, latestCheckpointsRoute } from '../schemas/audit.js'
import { listCheckpoints, listKeys, newestCheckpoints } from '../store/checkpoints.js'
import type { Database } from '../store/db.js'
import { bindLogFields } from '../http/request-log.js'

const AUDITOR = ['auditor'] as const
const MAX_PAGE = 1000

export function auditRoutes (app: FastifyInstance, opts: { db: Database }): void {
  app.get('/audit/keys', {
    config: { access: AUDITOR },
    schema: auditKeysRoute
  }, async () => {
    const rows = await listKeys(opts.db)
    // A key is valid until the next key of its algorithm took over.
    const keys = rows.map((r, i) => {
      const next = rows.slice(i + 1).find((n) => n.algorithm === r.algorithm)
      return { key_id: r.key_id, algorithm: r.algorithm, public_key: r.public_key, valid_from: iso(r.valid_from), valid_until: next === undefined ? null : iso(next.valid_from) }
    })
    return { keys }
  })

  // For an outside monitor: poll it, keep what it says, and a log later found behind it was rolled back.
  app.get('/audit/checkpoints/latest', {
    config: { access: AUDITOR },
    schema: latestCheckpointsRoute
  }, async (request) => ({ checkpoints: await newestCheckpoints(opts.db, tenantFilter(callerOf(request))) }))

  app.get<{ Querystring: { tenant_id?: string, after_seq?: string, limit?: string } }>('/audit/checkpoints', {
    config: { access: AUDITOR },
    schema: checkpointListRoute
  }, async (request, reply) => {
    const tenantId = request.query.tenant_id ?? DEFAULT_TENANT
    bindLogFields(request, reply, { tenantId })
    const after = Number(request.query.after_seq ?? 0)
    const limit = Math.min(MAX_PAGE, Number(request.query.limit ?? 100))
    // A foreign tenant's log answers as an unknown one does: no checkpoints.
    if (!coversTenant(callerOf(request), tenantId)) return { tenant_id: tenantId, checkpoints: [] }
    return { tenant_id: tenantId, checkpoints: await listCheckpoints(opts.db, tenantId, after + 1, Number.MAX_SAFE_INTEGER, limit) }
  })
}

function iso (d: Date | string): string {
  return new Date(d).toISOString()
}
