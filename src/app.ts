/**
 * buildApp(config, deps) → a ready-to-listen Fastify instance. Migrates the database, loads the
 * policy, then registers plugins and routes in the order they appear here. Only server.ts listens.
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify'
import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger as Logger } from 'fastify'
import type { HmacSigningKey } from './audit/chain.js'
import type { CheckpointKey } from './audit/checkpoint.js'
import { publicKeyPem } from './audit/checkpoint-key.js'
import { GrantService } from './approvals/grants.js'
import { ApprovalService } from './approvals/service.js'
import { FailureLimiter } from './auth/failure-limiter.js'
import { KeyLookup } from './auth/key-lookup.js'
import { registerAuth } from './auth/plugin.js'
import { CheckService } from './decisions/check-service.js'
import { randomIds, systemClock, type Clock, type IdGenerator } from './clock.js'
import type { Config } from './config.js'
import { ArbiterError, errorBody, RETRY_AFTER_SEC, type ErrorCode } from './errors.js'
import { Metrics } from './metrics.js'
import { approvalRoutes, approvalSchema } from './routes/approvals.js'
import { auditRoutes, checkpointSchema } from './routes/audit.js'
import { checkRoutes } from './routes/check.js'
import { grantRoutes, grantSchema } from './routes/grants.js'
import { jobRoutes } from './routes/jobs.js'
import { outputRoutes } from './routes/output.js'
import { keyRoutes } from './routes/keys.js'
import { metricsRoutes } from './routes/metrics.js'
import { readRoutes } from './routes/read.js'
import { healthRoutes } from './routes/health.js'
import { policyRoutes } from './routes/policies.js'
import { SHARED_SCHEMAS } from './routes/schemas.js'
import { Checkpointer } from './ledger/checkpointer.js'
import { PolicyHolder } from './live-policy/holder.js'
import type { Database } from './store/db.js'
import { pendingStats } from './store/approvals.js'
import { AuditWriter } from './ledger/writer.js'
import { registerKey } from './store/checkpoints.js'
import { migrate } from './store/migrate.js'
import { pruneRateLimits } from './store/rate-limits.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** performance.now() when the request arrived: the check budget runs from here. */
    receivedAt: number
  }
  interface FastifyInstance {
    policies: PolicyHolder
    auditWriter: AuditWriter
    checkpointer: Checkpointer
    metrics: Metrics
    approvals: ApprovalService
  }
}

export interface AppDeps {
  db: Database
  key: HmacSigningKey
  /** Every HMAC key the logs may hold records of (default: just `key`). */
  hmacKeys?: ReadonlyMap<string, Buffer>
  checkpointKey: CheckpointKey
  logger: Logger
  clock?: Clock
  ids?: IdGenerator
}

export async function buildApp (config: Config, deps: AppDeps): Promise<FastifyInstance> {
  const clock = deps.clock ?? systemClock
  const ids = deps.ids ?? randomIds
  const log = deps.logger

  await migrate(deps.db)
  const policies = new PolicyHolder(config.policyPath, deps.db, clock, log)
  await policies.load()
  await registerKey(deps.db, { id: deps.key.id, algorithm: 'hmac-sha256', publicKey: null })
  await registerKey(deps.db, { id: deps.checkpointKey.id, algorithm: 'ed25519', publicKey: publicKeyPem(deps.checkpointKey) })
  const checkpointer = new Checkpointer(deps.db, deps.checkpointKey, clock, { everyRecords: config.checkpointEvery, intervalMs: config.checkpointIntervalSec * 1000, hmacKeys: deps.hmacKeys ?? new Map([[deps.key.id, deps.key.secret]]) }, log)
  await checkpointer.start()
  // Read at scrape time, when `writer` exists.
  const metrics = new Metrics({
    policyReloadFailures: () => policies.reloadFailures,
    pendingAppends: () => writer.pending,
    approvalQueues: async () => {
      const now = clock.now()
      // A scrape while the database is away still answers, without these two series.
      const queues = await pendingStats(deps.db, now).catch((err: unknown) => {
        log.warn({ err }, 'approval queue metrics unavailable')
        return []
      })
      return queues.map((q) => ({ tenant: q.tenant_id, pending: q.pending, oldestAgeSec: Math.max(0, (now.getTime() - new Date(q.oldest).getTime()) / 1000) }))
    }
  })
  const writer = new AuditWriter(deps.db, deps.key, {
    log,
    onCommit: (tenant, from, head) => checkpointer.onCommit(tenant, from, head),
    onGroup: (outcome, records, ms) => {
      metrics.recordGroupDuration.observe({ outcome }, ms / 1000)
      metrics.recordGroupSize.observe({ outcome }, records)
    }
  })
  const approvals = new ApprovalService({ db: deps.db, writer, clock, maxPending: config.maxPendingApprovals })
  const service = new CheckService({ policy: () => policies.current, writer, approvals, db: deps.db, clock, ids })
  let sweeping = false
  const sweeper = setInterval(() => {
    if (sweeping) return
    sweeping = true
    Promise.all([
      approvals.sweep(config.checkBudgetMs).catch((err: unknown) => log.error({ err }, 'approval expiry sweep failed')),
      pruneRateLimits(deps.db, clock.now()).catch((err: unknown) => log.error({ err }, 'rate-limit pruning failed'))
    ]).finally(() => { sweeping = false })
  }, config.approvalSweepIntervalSec * 1000).unref()

  const app = Fastify({
    loggerInstance: log,
    bodyLimit: config.bodyLimitBytes,
    requestIdHeader: 'x-request-id',
    // request.ip is the client only behind proxies named here; otherwise the socket's peer.
    trustProxy: config.trustProxy.length === 0 ? false : [...config.trustProxy],
    // Ids in paths are as long as /check accepts them (job ids up to 256 characters).
    routerOptions: { maxParamLength: 1024 },
    // Router errors (a bad percent-escape, an over-long parameter) in the catalogue's shape too.
    frameworkErrors: (err, _request, reply) => (reply as FastifyReply).code(400).send(errorBody('ARBITER_ERR_VALIDATION', err.message)),
    // Fastify's own draining 503 is a bare body outside the catalogue: the onRequest hook answers instead.
    return503OnClosing: false,
    ajv: {
      // Reject what is wrong instead of repairing it: no coercion, no silent removal.
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false }
    }
  })
  app.decorate('policies', policies)
  app.decorate('auditWriter', writer)
  app.decorate('checkpointer', checkpointer)
  app.decorate('metrics', metrics)
  app.decorate('approvals', approvals)
  app.decorateRequest('receivedAt', 0)
  // preClose runs as close() begins, before the listener stops and in-flight requests drain;
  // onClose would run only after they had drained, too late to turn anything away.
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onRequest', async (request, reply) => {
    request.receivedAt = performance.now()
    if (closing) {
      // A request pipelined or kept alive into the drain: turned away in the catalogue shape, so
      // a caller can tell it apart and retry elsewhere. Fastify adds `Connection: close`.
      reply.code(503).header('retry-after', RETRY_AFTER_SEC)
        .send(errorBody('ARBITER_ERR_SHUTTING_DOWN', 'the server is shutting down; send the request to another instance'))
      return reply
    }
  })
  app.addHook('onClose', async () => {
    clearInterval(sweeper)
    policies.close()
    metrics.close()
    await checkpointer.close()
  })
  app.removeContentTypeParser('text/plain')
  for (const schema of [...SHARED_SCHEMAS, checkpointSchema, approvalSchema, grantSchema]) app.addSchema(schema)

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { code, message } = classify(err)
    const body = errorBody(code, message)
    if (body.statusCode >= 500) request.log.error({ err }, 'request failed')
    // A 503 is temporary by definition here: the database, or a draining instance.
    if (body.statusCode === 503) reply.header('retry-after', RETRY_AFTER_SEC)
    return reply.code(body.statusCode).send(body)
  })
  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).send(errorBody('ARBITER_ERR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`))
  })

  // Before any route, so each route's declared access is checked as it registers.
  const limiter = new FailureLimiter(config.authFailureLimit, config.authFailureWindowSec * 1000)
  registerAuth(app, { keys: new KeyLookup(deps.db), enabled: config.authEnabled, limiter, timeoutMs: config.checkBudgetMs, onFailure: (reason) => metrics.authFailed(reason) })
  if (!config.authEnabled) log.warn({ host: config.host }, 'ARBITER_AUTH=disabled: every request is served as an admin of every tenant; for local experiments only')

  healthRoutes(app, { db: deps.db, policies, timeoutMs: config.checkBudgetMs })
  checkRoutes(app, { service, budgetMs: config.checkBudgetMs, metrics })
  policyRoutes(app, { policies, db: deps.db })
  jobRoutes(app, { writer, clock, budgetMs: config.checkBudgetMs })
  outputRoutes(app, { writer, clock, policy: () => policies.current, key: deps.key, budgetMs: config.checkBudgetMs })
  approvalRoutes(app, { approvals, db: deps.db, clock, budgetMs: config.checkBudgetMs })
  grantRoutes(app, { grants: new GrantService({ db: deps.db, writer, clock }), clock, budgetMs: config.checkBudgetMs })
  readRoutes(app, { db: deps.db })
  auditRoutes(app, { db: deps.db })
  keyRoutes(app, { db: deps.db })
  metricsRoutes(app, { metrics })
  return app
}

/**
 * The optional metrics-only listener (METRICS_PORT): GET /metrics without a token, for a
 * Prometheus that should hold no key; nothing else is served there.
 */
export function buildMetricsApp (metrics: Metrics, logger: Logger): FastifyInstance {
  const app = Fastify({ loggerInstance: logger, disableRequestLogging: true })
  metricsRoutes(app, { metrics, access: 'public' })
  app.setNotFoundHandler((request, reply) => reply.code(404).send(errorBody('ARBITER_ERR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}; this listener serves only GET /metrics`)))
  return app
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'ARBITER_ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'ARBITER_ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ARBITER_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'ARBITER_ERR_INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'ARBITER_ERR_INVALID_JSON'
}

/** Maps anything thrown in a request to a catalogue code; internals never reach the caller. */
function classify (err: FastifyError): { code: ErrorCode, message: string } {
  if (err instanceof ArbiterError) return { code: err.code, message: err.message }
  if (err.validation !== undefined) return { code: 'ARBITER_ERR_VALIDATION', message: validationMessage(err) }
  const mapped = FASTIFY_CODES[err.code]
  if (mapped !== undefined) return { code: mapped, message: err.message }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return { code: 'ARBITER_ERR_VALIDATION', message: err.message }
  }
  return { code: 'ARBITER_ERR_INTERNAL', message: 'internal error' }
}

/** Names the offending field: `body.labels.env must be string`, `body has unknown field 'x'`. */
function validationMessage (err: FastifyError): string {
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
