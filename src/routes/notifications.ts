/**
 * GET /notifications/deliveries: every webhook delivery, newest first, with its attempts and
 * last outcome. An auditor's or admin's read; a key scoped to tenants sees only theirs.
 */
import type { FastifyInstance } from 'fastify'
import { callerOf } from '../auth/plugin.js'
import { tenantFilter } from '../auth/principal.js'
import { eventId } from '../notify/payload.js'
import { deliveryListRoute } from '../schemas/notifications.js'
import type { Database } from '../store/db.js'
import { listDeliveries, type DeliveryRow } from '../store/notifications.js'

const AUDITOR = ['auditor'] as const

interface ListQuery { status?: string, type?: string, tenant_id?: string, cursor?: string, limit?: string }

export function notificationRoutes (app: FastifyInstance, opts: { db: Database }): void {
  app.get<{ Querystring: ListQuery }>('/notifications/deliveries', {
    config: { access: AUDITOR },
    schema: deliveryListRoute
  }, async (request) => {
    const q = request.query
    const limit = Number(q.limit ?? 50)
    const rows = await listDeliveries(opts.db, {
      status: q.status,
      eventType: q.type,
      tenantId: q.tenant_id,
      tenants: tenantFilter(callerOf(request)),
      before: q.cursor
    }, limit + 1)
    const page = rows.slice(0, limit)
    return { deliveries: page.map(deliveryView), next_cursor: rows.length > limit ? page[page.length - 1].delivery_id : null }
  })
}

function deliveryView (d: DeliveryRow): Record<string, unknown> {
  const iso = (t: Date | string | null): string | null => t === null ? null : new Date(t).toISOString()
  return {
    delivery_id: d.delivery_id,
    event_id: eventId(d.tenant_id, Number(d.seq)),
    tenant_id: d.tenant_id,
    seq: Number(d.seq),
    type: d.event_type,
    destination: d.destination,
    format: d.format,
    status: d.status,
    attempts: d.attempts,
    created_at: iso(d.created_at),
    last_attempt_at: iso(d.last_attempt_at),
    next_attempt_at: iso(d.next_attempt_at),
    last_http_status: d.last_http_status,
    last_error: d.last_error,
    delivered_at: iso(d.delivered_at)
  }
}
