import type { FastifyInstance } from 'fastify'
import type { Access } from '../auth/plugin.js'
import type { Metrics } from '../metrics.js'

/** GET /metrics in Prometheus text format: for auditors on the API port, or anyone on a metrics-only bind. */
export function metricsRoutes (app: FastifyInstance, opts: { metrics: Metrics, access?: Access }): void {
  app.get('/metrics', {
    // Counts by rule over all tenants: for keys that reach every tenant.
    config: { access: opts.access ?? ['auditor'], allTenants: true }
  }, async (_request, reply) => {
    const { contentType, body } = await opts.metrics.render()
    return await reply.type(contentType).send(body)
  })
}
