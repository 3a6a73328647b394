/**
 * buildApp(config, deps) → a ready-to-listen Fastify instance: creates the services
 * (services.ts), then puts the HTTP layer in front of them in the order it appears here —
 * framework options, lifecycle hooks, error handling, authentication, routes. Only server.ts listens.
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify'
import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger as Logger } from 'fastify'
import { FailureLimiter } from './auth/failure-limiter.js'
import type { KeyLookup } from './auth/key-lookup.js'
import { registerAuth } from './auth/plugin.js'
import type { Config } from './config.js'
import { errorBodyFor, RETRY_AFTER_SEC } from './errors/index.js'
import { answerFrameworkError, installErrorHandler, installNotFoundHandler } from './errors/http.js'
import type { ApprovalService } from './approvals/service.js'
import type { Checkpointer } from './ledger/checkpointer.js'
import type { AuditWriter } from './ledger/writer.js'
import { parseJsonStrictly } from './http/json-body.js'
import { serializeRequest } from './http/request-log.js'
import type { PolicyHolder } from './live-policy/holder.js'
import type { Metrics } from './metrics.js'
import { approvalRoutes } from './routes/approvals.js'
import { auditRoutes } from './routes/audit.js'
import { checkRoutes } from './routes/check.js'
import { consoleAssetRoutes } from './routes/console-assets.js'
import { consoleRoutes } from './routes/console.js'
import { grantRoutes } from './routes/grants.js'
import { jobRoutes } from './routes/jobs.js'
import { outputRoutes } from './routes/output.js'
import { keyRoutes } from './routes/keys.js'
import { metricsRoutes } from './routes/metrics.js'
import { notificationRoutes } from './routes/notifications.js'
import { readRoutes } from './routes/read.js'
import { healthRoutes } from './routes/health.js'
import { policyRoutes } from './routes/policies.js'
import { policyChangeRoutes } from './routes/policy-changes.js'
import { SHARED_SCHEMAS } from './schemas/index.js'
import { createServices, type AppDeps, type Services } from './services.js'

export type { AppDeps } from './services.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** performance.now() when the request arrived: the check budget runs from here. */
    receivedAt: number
  }
  interface FastifyInstance {
    policies: PolicyHolder
    /** The shadow policy (POLICY_SHADOW_PATH), when there is one. */
    shadowPolicies: PolicyHolder | undefined
    auditWriter: AuditWriter
    checkpointer: Checkpointer
    metrics: Metrics
    approvals: ApprovalService
    keyLookup: KeyLookup
  }
}

export async function buildApp (config: Config, deps: AppDeps): Promise<FastifyInstance> {
  const services = await createServices(config, deps)
  const app = createFastify(config, deps.logger)
  app.decorate('policies', services.policies)
  app.decorate('shadowPolicies', services.shadow?.policies)
  app.decorate('auditWriter', services.writer)
  app.decorate('checkpointer', services.checkpointer)
  app.decorate('metrics', services.metrics)
  app.decorate('approvals', services.approvals)
  app.decorate('keyLookup', services.keys)
  addLifecycleHooks(app, services)
  addErrorHandling(app)
  // Before any route, so each route's declared access is checked as it registers.
  const limiter = new FailureLimiter(config.authFailureLimit, config.authFailureWindowSec * 1000)
  registerAuth(app, { keys: services.keys, enabled: config.authEnabled, limiter, timeoutMs: config.checkBudgetMs, onFailure: (reason) => services.metrics.authFailed(reason) })
  if (!config.authEnabled) deps.logger.warn({ host: config.host }, 'ARBITER_AUTH=disabled: every request is served as an admin of every tenant; for local experiments only')
  registerRoutes(app, services, config, deps)
  return app
}

function createFastify (config: Config, log: Logger): FastifyInstance {
  return Fastify({
    // Tokens in a URL are never logged (the Authorization header is redacted by the logger).
    loggerInstance: log.child({}, { serializers: { req: serializeRequest } }),
    bodyLimit: config.bodyLimitBytes,
    requestIdHeader: 'x-request-id',
    // request.ip is the client only behind proxies named here; otherwise the socket's peer.
    trustProxy: config.trustProxy.length === 0 ? false : [...config.trustProxy],
    // Ids in paths are as long as /check accepts them (job ids up to 256 characters).
    routerOptions: { maxParamLength: 1024 },
    // Router errors (a bad percent-escape, an over-long parameter) in the catalogue's shape too.
    frameworkErrors: answerFrameworkError,
    // Fastify's own draining 503 is a bare body outside the catalogue: the onRequest hook answers instead.
    return503OnClosing: false,
    ajv: {
      // Reject what is wrong instead of repairing it: no coercion, no silent removal.
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false }
    }
  })
}

/** Turns requests away while the instance drains, and stops the services once it has. */
function addLifecycleHooks (app: FastifyInstance, services: Services): void {
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
        .send(errorBodyFor('shuttingDown'))
      return reply
    }
  })
  app.addHook('onClose', async () => { await services.close() })
}

/** Every error leaves in the catalogue's shape: `{statusCode, code, error, message}`. */
function addErrorHandling (app: FastifyInstance): void {
  app.removeContentTypeParser('text/plain')
  parseJsonStrictly(app)
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema)
  installErrorHandler(app)
  installNotFoundHandler(app)
}

function registerRoutes (app: FastifyInstance, services: Services, config: Config, deps: AppDeps): void {
  const { db, clock, policies, writer, approvals, metrics } = services
  const budgetMs = config.checkBudgetMs
  healthRoutes(app, { db, policies, timeoutMs: budgetMs })
  checkRoutes(app, { service: services.checks, budgetMs, metrics })
  policyRoutes(app, { policies, db })
  policyChangeRoutes(app, { runs: services.replays, policies, shadow: services.shadow })
  jobRoutes(app, { writer, clock, metrics, budgetMs })
  outputRoutes(app, { writer, clock, policy: () => policies.current, key: deps.key, budgetMs })
  approvalRoutes(app, { approvals, db, clock, budgetMs })
  grantRoutes(app, { grants: services.grants, clock, budgetMs })
  readRoutes(app, { db })
  auditRoutes(app, { db })
  keyRoutes(app, { db, keys: services.keys })
  metricsRoutes(app, { metrics })
  notificationRoutes(app, { db })
  consoleRoutes(app, { db, clock })
  consoleAssetRoutes(app)
}

/**
 * The optional metrics-only listener (METRICS_PORT): GET /metrics without a token, for a
 * Prometheus that should hold no key; nothing else is served there.
 */
export function buildMetricsApp (metrics: Metrics, logger: Logger): FastifyInstance {
  // Through a LogController: the top-level disableRequestLogging option is deprecated (FSTDEP023).
  const app = Fastify({ loggerInstance: logger, logController: new LogController({ disableRequestLogging: true }) })
  metricsRoutes(app, { metrics, access: 'public' })
  installNotFoundHandler(app, 'noMetricsRoute')
  return app
}
