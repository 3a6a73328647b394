/**
 * Errors, made from the catalogue (catalogue.ts). Every 4xx/5xx body has the shape
 * `{ statusCode, code, error, message }`; http.ts maps whatever a request throws to it.
 */
import { STATUS_CODES } from 'node:http'
import { CATALOGUE, CODES, type ErrorCode, type ErrorName, type ParamsOf } from './catalogue.js'

export { CATALOGUE, CODES, type ErrorCode, type ErrorName, type ParamsOf } from './catalogue.js'

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
    this.statusCode = CODES[code]
  }
}

function filled<N extends ErrorName> (name: N, params: ParamsOf<N>): { code: ErrorCode, message: string } {
  const { code, message } = CATALOGUE[name]
  return { code, message: (message as (...p: ParamsOf<N>) => string)(...params) }
}

/** The catalogue's error `name`, its message filled in: `throw errorFor('noJob', jobId)`. */
export function errorFor<N extends ErrorName> (name: N, ...params: ParamsOf<N>): ArbiterError {
  const { code, message } = filled(name, params)
  return new ArbiterError(code, message)
}

/** The same, with the error that caused it (for the log; the caller never sees it). */
export function errorCausedBy<N extends ErrorName> (cause: unknown, name: N, ...params: ParamsOf<N>): ArbiterError {
  const { code, message } = filled(name, params)
  return new ArbiterError(code, message, { cause })
}

/** Builds the standard error body for a catalogue code. */
export function errorBody (code: ErrorCode, message: string): ErrorBody {
  const statusCode = CODES[code]
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message }
}

/** The body of the catalogue's error `name`, for answers sent without throwing. */
export function errorBodyFor<N extends ErrorName> (name: N, ...params: ParamsOf<N>): ErrorBody {
  const { code, message } = filled(name, params)
  return errorBody(code, message)
}

/** Refusals pass through; anything else means the change and its record did not commit. */
export function recordFailure (what: string): (err: unknown) => never {
  return (err: unknown) => {
    if (err instanceof ArbiterError && err.code !== 'ARBITER_ERR_INTERNAL') throw err
    throw errorCausedBy(err, 'notRecorded', what)
  }
}
