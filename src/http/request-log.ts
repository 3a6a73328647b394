/**
 * What the request log says of a request. Tokens belong in the Authorization header, which the
 * logger redacts; a caller who puts one in the URL (`?access_token=arb_…`) must not find it in
 * the logs either, so the logged URL has credential-like query values and anything shaped like an
 * Arbiter token masked.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Bindings } from 'pino'

const CREDENTIAL_PARAM = /^(?:access[_-]?token|id[_-]?token|refresh[_-]?token|token|api[_-]?key|key|auth|authorization|bearer|password|passwd|pwd|secret|client[_-]?secret|sig|signature|session|code)$/i
const TOKEN_SHAPED = /arb_[A-Za-z0-9_-]{8,}/g
const MASK = '[redacted]'

/** `url` as it may be logged. */
export function loggableUrl (url: string): string {
  const q = url.indexOf('?')
  const masked = q === -1
    ? url
    : url.slice(0, q + 1) + url.slice(q + 1).split('&').map((pair) => {
      const eq = pair.indexOf('=')
      if (eq === -1) return pair
      let name = pair.slice(0, eq)
      try { name = decodeURIComponent(name) } catch { /* logged as sent */ }
      return CREDENTIAL_PARAM.test(name) ? `${pair.slice(0, eq)}=${MASK}` : pair
    }).join('&')
  return masked.replace(TOKEN_SHAPED, `arb_${MASK}`)
}

/** The request serializer: fastify's fields, the URL made loggable. */
export function serializeRequest (request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: loggableUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort
  }
}

/**
 * Names `fields` on every later line of this request's log, the "request completed" line
 * included. Fastify gives each request a child logger of its own (shared with its reply), so the
 * fields are bound to it in place rather than through yet another child a time: one logger per
 * request however many hooks add to it.
 */
export function bindLogFields (request: FastifyRequest, reply: FastifyReply, fields: Bindings): void {
  const log = request.log as FastifyRequest['log'] & { setBindings?: (bindings: Bindings) => void }
  if (typeof log.setBindings === 'function') {
    log.setBindings(fields)
    return
  }
  request.log = reply.log = log.child(fields)
}
