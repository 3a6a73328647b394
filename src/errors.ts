/**
 * The one catalogue of errors Arbiter answers with. Every 4xx/5xx body has the shape
 * `{ statusCode, code, error, message }`; tests assert on `code`, never on wording.
 */
import { STATUS_CODES } from 'node:http'

export const ERRORS = {
  ARBITER_ERR_VALIDATION: 400,
  ARBITER_ERR_INVALID_JSON: 400,
  ARBITER_ERR_BODY_TOO_LARGE: 400,
  ARBITER_ERR_UNAUTHORIZED: 401,
  ARBITER_ERR_FORBIDDEN: 403,
  ARBITER_ERR_NOT_FOUND: 404,
  ARBITER_ERR_JOB_FINAL: 409,
  ARBITER_ERR_LAST_ADMIN: 409,
  ARBITER_ERR_STALE_JOB_HASH: 409,
  ARBITER_ERR_APPROVAL_CLOSED: 409,
  ARBITER_ERR_ALREADY_VOTED: 409,
  ARBITER_ERR_TRACE_MISMATCH: 409,
  ARBITER_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  ARBITER_ERR_POLICY_INVALID: 422,
  ARBITER_ERR_TOO_MANY_FAILURES: 429,
  ARBITER_ERR_RECORD_UNAVAILABLE: 503,
  ARBITER_ERR_AUTH_UNAVAILABLE: 503,
  ARBITER_ERR_NOT_READY: 503,
  ARBITER_ERR_SHUTTING_DOWN: 503,
  ARBITER_ERR_INTERNAL: 500
} as const

export type ErrorCode = keyof typeof ERRORS

/** `Retry-After` (seconds) on the 503s a caller should retry: an unrecorded check, a draining server. */
export const RETRY_AFTER_SEC = '1'

export interface ErrorBody {
  statusCode: number
  code: ErrorCode
  error: string
  message: string
}

export class ArbiterError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number

  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ArbiterError'
    this.code = code
    this.statusCode = ERRORS[code]
  }
}

/** Builds the standard error body for a catalogue code. */
export function errorBody (code: ErrorCode, message: string): ErrorBody {
  const statusCode = ERRORS[code]
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message }
}

/** Refusals pass through; anything else means the change and its record did not commit. */
export function recordFailure (what: string): (err: unknown) => never {
  return (err: unknown) => {
    if (err instanceof ArbiterError && err.code !== 'ARBITER_ERR_INTERNAL') throw err
    throw new ArbiterError('ARBITER_ERR_RECORD_UNAVAILABLE', `${what} could not be recorded`, { cause: err })
  }
}
