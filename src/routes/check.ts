import type { FastifyInstance } from 'fastify'
import { RecordFailure, type CheckService } from '../check-service.js'
import { ArbiterError, errorBody, RETRY_AFTER_SEC } from '../errors.js'
import type { CheckRequest } from '../policy/index.js'

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

export function checkRoutes (app: FastifyInstance, opts: { service: CheckService, budgetMs: number }): void {
  const { service, budgetMs } = opts
  const preValidation = async (request: { body: unknown }): Promise<void> => {
    if (depthExceeds(request.body, MAX_JSON_DEPTH)) {
      throw new ArbiterError('ARBITER_ERR_VALIDATION', `body nests deeper than ${MAX_JSON_DEPTH} levels`)
    }
  }

  app.post<{ Body: CheckRequest }>('/check', {
    preValidation,
    schema: {
      body: { $ref: 'CheckRequest#' },
      // 503: an unrecorded DENY, or the draining answer of app.ts's onRequest hook.
      response: { 200: { $ref: 'Decision#' }, 400: { $ref: 'Error#' }, 415: { $ref: 'Error#' }, 503: { oneOf: [{ $ref: 'UnrecordedDeny#' }, { $ref: 'Error#' }] } }
    }
  }, async (request, reply) => {
    try {
      return await service.check(request.body, request.receivedAt + budgetMs)
    } catch (err) {
      if (!(err instanceof RecordFailure)) throw err
      request.log.error({ err, traceId: err.prepared.traceId }, 'decision not recorded; answering DENY')
      const reason = `decision could not be recorded: ${err.message}`
      return await reply.code(503).header('retry-after', RETRY_AFTER_SEC).send({
        ...errorBody('ARBITER_ERR_RECORD_UNAVAILABLE', reason),
        decision: 'DENY',
        reason,
        trace_id: err.prepared.traceId,
        job_hash: err.prepared.jobHash,
        policy_snapshot: err.prepared.policy.snapshotId
      })
    }
  })

  app.post<{ Body: CheckRequest }>('/check/simulate', {
    preValidation,
    schema: {
      body: { $ref: 'CheckRequest#' },
      response: { 200: { $ref: 'Simulation#' }, 400: { $ref: 'Error#' }, 415: { $ref: 'Error#' } }
    }
  }, async (request) => {
    const { evaluation: ev, ...prepared } = service.simulate(request.body)
    return {
      decision: ev.decision,
      reason: ev.reason,
      rule_id: ev.rule_id,
      matched_rules: ev.matched_rules,
      constraints: ev.constraints,
      policy_snapshot: prepared.policy.snapshotId,
      job_hash: prepared.jobHash,
      trace_id: prepared.traceId,
      recorded: false,
      matches: ev.matches
    }
  })
}
