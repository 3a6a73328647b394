/** Notification deliveries: what was sent to which webhook, and how it went. */
import { EVENT_TYPES } from '../notify/payload.js'
import { closedObject, errorReplies, nameSchema, nullableString, nullableTime, pageLimit, pageOf, time } from './common.js'

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const

const deliveryItem = closedObject({
  delivery_id: { type: 'string' },
  /** The `webhook-id` every attempt of it carried: `<tenant>:<seq>`, the same for every webhook. */
  event_id: { type: 'string' },
  tenant_id: { type: 'string' },
  seq: { type: 'integer' },
  type: { type: 'string', enum: EVENT_TYPES },
  destination: { type: 'string', enum: ['global', 'tenant'] },
  format: { type: 'string', enum: ['standard', 'slack'] },
  status: { type: 'string', enum: DELIVERY_STATUSES },
  attempts: { type: 'integer' },
  created_at: time,
  last_attempt_at: nullableTime,
  next_attempt_at: nullableTime,
  last_http_status: { type: ['integer', 'null'] },
  last_error: nullableString,
  delivered_at: nullableTime
}, ['delivery_id', 'event_id', 'tenant_id', 'seq', 'type', 'destination', 'format', 'status', 'attempts', 'created_at',
  'last_attempt_at', 'next_attempt_at', 'last_http_status', 'last_error', 'delivered_at'])

export const deliveryListRoute = {
  querystring: closedObject({
    status: { type: 'string', enum: DELIVERY_STATUSES },
    type: { type: 'string', enum: EVENT_TYPES },
    tenant_id: nameSchema,
    cursor: { type: 'string', pattern: '^[1-9][0-9]{0,17}$' },
    limit: pageLimit
  }),
  response: { 200: pageOf('deliveries', deliveryItem), ...errorReplies(400) }
} as const
