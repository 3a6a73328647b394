/**
 * The pieces every resource's schemas are built from: ids and their patterns, times, the error
 * body and the error replies of a route, pagination. The ids a /check request carries are the
 * policy core's (policy/request-schema.ts, which knows nothing of HTTP); every other route takes
 * them from here, so each pattern is written once.
 */
import { checkRequestSchema } from '../policy/request-schema.js'

export { globSchema, NAME_PATTERN, nameSchema } from '../policy/request-schema.js'

/** A job, principal, session or rule id: 1–256 printable ASCII characters, no spaces. */
export const printableId = checkRequestSchema.properties.job_id
/** Printable ASCII without spaces (ids, tokens), for code that checks a string without a schema. */
export const PRINTABLE = new RegExp(printableId.pattern)
/** A trace id, as /check takes it. */
export const traceId = checkRequestSchema.properties.trace_id
/** Whether `value` is a printable id, for callers that have no schema (the CLI). */
export function isPrintableId (value: string): boolean {
  return value.length >= printableId.minLength && value.length <= printableId.maxLength && PRINTABLE.test(value)
}

/** `sha256:` + 64 hex digits: job hashes, policy snapshot ids, checkpoint heads. */
export const sha256Id = { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' } as const
/** `hmac-sha256:<key id>:<64 hex digits>`: the HMAC of a decision or of a job's output. */
export const hmacSignature = { type: 'string', pattern: '^hmac-sha256:[A-Za-z0-9_]+:[0-9a-f]{64}$' } as const

export const uuid = { type: 'string', format: 'uuid' } as const
export const time = { type: 'string', format: 'date-time' } as const
export const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const
export const nullableString = { type: ['string', 'null'] } as const
export const strings = { type: 'array', items: { type: 'string' } } as const
/** Who did something, as the log records it (principal and key), or null. */
export const actor = { type: ['object', 'null'], additionalProperties: { type: 'string' } } as const
/** A querystring switch: `true` or `false`. */
export const flag = { type: 'string', enum: ['true', 'false'] } as const

type Properties = Record<string, unknown>

/**
 * An object with exactly these properties, the `required` ones always there (a querystring or a
 * body with nothing required states no `required` at all).
 */
export function closedObject<P extends Properties> (properties: P, required: readonly string[] = []): { type: 'object', required?: readonly string[], additionalProperties: false, properties: P } {
  return { type: 'object', ...(required.length === 0 ? {} : { required }), additionalProperties: false, properties }
}

/** The path parameters of a route with one, which is required. */
export function pathParams (name: string, schema: unknown): ReturnType<typeof closedObject> {
  return closedObject({ [name]: schema }, [name])
}

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message'],
  additionalProperties: false,
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' }
  }
} as const

/** The replies a route answers in the error catalogue's shape, one per status. */
export function errorReplies<S extends number> (...statuses: S[]): Record<S, { $ref: 'Error#' }> {
  return Object.fromEntries(statuses.map((status) => [status, { $ref: 'Error#' }])) as Record<S, { $ref: 'Error#' }>
}

/** `limit` of a list of approvals or grants: 1–200, as a querystring string. */
export const pageLimit = { type: 'string', pattern: '^([1-9][0-9]?|1[0-9]{2}|200)$' } as const

/** An opaque cursor handed out by a list (base64url). */
export function opaqueCursor (maxLength: number): { type: 'string', maxLength: number, pattern: string } {
  return { type: 'string', maxLength, pattern: '^[A-Za-z0-9_-]+$' }
}

/** A page of a list: its items under `key`, and the cursor of the next page (null at the end). */
export function pageOf (key: string, items: unknown): ReturnType<typeof closedObject> {
  return closedObject({ [key]: { type: 'array', items }, next_cursor: nullableString }, [key, 'next_cursor'])
}
