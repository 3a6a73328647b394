import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { performance } from 'node:perf_hooks'
import { assertSpeaksFor, assertTenant, callerOf } from '../auth/plugin.js'
import { UnrecordedDecision, type CheckService } from '../decisions/check-service.js'
import { unrecordedDeny } from '../decisions/decision.js'
import { errorFor, RETRY_AFTER_SEC } from '../errors/index.js'
import type { Metrics } from '../metrics.js'
import type { CheckRequest } from '../policy/index.js'
import { DEFAULT_TENANT } from '../policy/job.js'
import { bindLogFields } from '../http/request-log.js'

/** Deeper JSON than this in a request is refused: canonical hashing recurses through it. */
export const MAX_JSON_DEPTH = 32

/** The nesting depth of a parsed JSON value, counted without recursion. */
function depthExceeds (value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number]
    if (v === null || typeof v !== 'object') continue
    if (d >= limit) return true
    for (const child of Object.values(v)) stack.push([child, d + 1])
  }
  return false
}

const SCHEDULER = ['scheduler'] as const

/**
 * Puts the answer on the request's logger, so fastify's "request completed" line (written with
 * reply.log) names the decision and its rule beside the job; and the trace id when Arbiter made
 * it up (one the caller sent is there since the preHandler).
 */
function logAnswer (request: FastifyRequest<{ Body: CheckRequest }>, reply: FastifyReply, fields: Record<string, unknown>, traceId: string): void {
  bindLogFields(request, reply, request.body.trace_id === undefined ? { ...fields, traceId } : fields)
}

export function checkRoutes (app: FastifyInstance, opts: { service: CheckService, budgetMs: number, metrics?: Metrics }): void {
  const { service, budgetMs, metrics } = opts
  const preValidation = async (request: { body: unknown }): Promise<void> => {
    if (depthExceeds(request.body, MAX_JSON_DEPTH)) {
      throw errorFor('bodyTooDeep', MAX_JSON_DEPTH)
    }
  }
  // After validation, before anything is decided: the caller's tenant scope and agent reach.
  const preHandler = async (request: FastifyRequest<{ Body: CheckRequest }>, reply: FastifyReply): Promise<void> => {
    const caller = callerOf(request)
    const tenantId = request.body.tenant_id ?? DEFAULT_TENANT
    assertTenant(caller, tenantId)
    assertSpeaksFor(caller, request.body.principal_id)
    bindLogFields(request, reply, { tenantId, jobId: request.body.job_id, ...(request.body.trace_id === undefined ? {} : { traceId: request.body.trace_id }) })
  }
  const onResponse = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    metrics?.checkDuration.observe({ status: String(reply.statusCode) }, (performance.now() - request.receivedAt) / 1000)
  }

  app.post<{ Body: CheckRequest }>('/check', {
    config: { access: SCHEDULER },
    preValidation,
    preHandler,
    onResponse,
    schema: {
      body: { $ref: 'CheckRequest#' },
      // 503: an unrecorded DENY, or the draining answer of app.ts's onRequest hook.
      // 404: a tenant outside the key's scope, answered as an unknown one.
      response: { 200: { $ref: 'Decision#' }, 400: { $ref: 'Error#' }, 404: { $ref: 'Error#' }, 415: { $ref: 'Error#' }, 503: { oneOf: [{ $ref: 'UnrecordedDeny#' }, { $ref: 'Error#' }] } }
    }
  }, async (request, reply) => {
    try {
      const decided = await service.check(request.body, request.receivedAt + budgetMs, callerOf(request))
      metrics?.decisions.inc({ decision: decided.decision, rule_id: decided.rule_id ?? 'none' })
      logAnswer(request, reply, { decision: decided.decision, ruleId: decided.rule_id, decisionId: decided.decision_id }, decided.trace_id)
      // Whole seconds, rounded up: a caller that waits the header's figure waits long enough.
      if (decided.retry_after_ms !== undefined) reply.header('retry-after', String(Math.ceil(decided.retry_after_ms / 1000)))
      return decided
    } catch (err) {
      if (!(err instanceof UnrecordedDecision)) throw err
      logAnswer(request, reply, { decision: 'DENY', ruleId: null, recorded: false }, err.prepared.traceId)
      request.log.error({ err }, 'decision not recorded; answering DENY')
      return await reply.code(503).header('retry-after', RETRY_AFTER_SEC).send(unrecordedDeny(err.prepared, err.message))
    }
  })

  app.post<{ Body: CheckRequest }>('/check/simulate', {
    config: { access: SCHEDULER },
    preValidation,
    preHandler,
    schema: {
      body: { $ref: 'CheckRequest#' },
      response: { 200: { $ref: 'Simulation#' }, 400: { $ref: 'Error#' }, 404: { $ref: 'Error#' }, 415: { $ref: 'Error#' } }
    }
  }, async (request) => service.simulate(request.body))
}
