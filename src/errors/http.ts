/**
 * The catalogue at the HTTP edge: whatever a request throws, whatever ajv or the body parser
 * refuses, and a route that does not exist, all leave as `{statusCode, code, error, message}`;
 * a 5xx is logged in full and told only as "internal error".
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ArbiterError, CATALOGUE, errorBody, errorBodyFor, RETRY_AFTER_SEC, type ErrorCode } from './index.js'

export const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'ARBITER_ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'ARBITER_ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ARBITER_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'ARBITER_ERR_INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'ARBITER_ERR_INVALID_JSON'
}

/** Maps anything thrown in a request to a catalogue code; internals never reach the caller. */
export function classify (err: FastifyError): { code: ErrorCode, message: string } {
  if (err instanceof ArbiterError) return { code: err.code, message: err.message }
  if (err.validation !== undefined) return { code: 'ARBITER_ERR_VALIDATION', message: validationMessage(err) }
  const mapped = FASTIFY_CODES[err.code]
  if (mapped !== undefined) return { code: mapped, message: err.message }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return { code: 'ARBITER_ERR_VALIDATION', message: err.message }
  }
  return { code: CATALOGUE.internal.code, message: CATALOGUE.internal.message() }
}

/** Names the offending field: `body.labels.env must be string`, `body has unknown field 'x'`. */
export function validationMessage (err: FastifyError): string {
  const first = err.validation?.[0]
  if (first === undefined) return err.message
  const where = [err.validationContext ?? 'body', ...first.instancePath.split('/').slice(1)].join('.')
  const params = first.params as Record<string, unknown>
  switch (first.keyword) {
    case 'additionalProperties':
      return `${where} has unknown field '${String(params.additionalProperty)}'`
    case 'required':
      return `${where}.${String(params.missingProperty)} is required`
    default:
      return `${where} ${first.message ?? 'is invalid'}`
  }
}

/** Fastify's `frameworkErrors`: router errors (a bad percent-escape, an over-long parameter) in the catalogue's shape too. */
export function answerFrameworkError (err: FastifyError, _request: unknown, reply: unknown): void {
  (reply as FastifyReply).code(400).send(errorBody('ARBITER_ERR_VALIDATION', err.message))
}

/** Every error a request ends in leaves in the catalogue's shape. */
export function installErrorHandler (app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { code, message } = classify(err)
    const body = errorBody(code, message)
    if (body.statusCode >= 500) request.log.error({ err }, 'request failed')
    // A 503 is temporary by definition here: the database, or a draining instance.
    if (body.statusCode === 503) reply.header('retry-after', RETRY_AFTER_SEC)
    if (code === 'ARBITER_ERR_BODY_TOO_LARGE') discardRestOfBody(request.raw, reply)
    return reply.code(body.statusCode).send(body)
  })
}

/** How much of a refused body is read and thrown away, at most, so the caller can read the answer. */
const DISCARD_LIMIT_BYTES = 16 * 1024 * 1024
const DISCARD_LIMIT_MS = 5_000

/**
 * A body refused for its size may still be arriving. Fastify closes the connection after a
 * body-parser error, and closing with unread data makes the kernel reset the connection: the
 * caller lost the 400 already sent (a chunked body, which no header announced as too large, ended
 * that way). So the rest is read and dropped, up to limits past which the connection is cut, and
 * the connection stays open for the answer to be read.
 */
function discardRestOfBody (raw: FastifyRequest['raw'], reply: FastifyReply): void {
  if (raw.complete) return
  reply.removeHeader('connection')
  let seen = 0
  const stop = setTimeout(() => raw.socket.destroy(), DISCARD_LIMIT_MS).unref()
  raw.on('data', (chunk: Buffer) => {
    seen += chunk.length
    if (seen > DISCARD_LIMIT_BYTES) raw.socket.destroy()
  })
  raw.once('end', () => clearTimeout(stop))
  raw.once('close', () => clearTimeout(stop))
  raw.resume()
}

/** An unknown route is a 404 in the catalogue's shape; `noMetricsRoute` on the metrics-only listener. */
export function installNotFoundHandler (app: FastifyInstance, name: 'noRoute' | 'noMetricsRoute' = 'noRoute'): void {
  app.setNotFoundHandler((request, reply) => reply.code(404).send(errorBodyFor(name, request.method, request.url.split('?')[0])))
}
