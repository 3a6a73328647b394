import type { FastifyInstance } from 'fastify'
import type { Database } from '../store/db.js'
import type { PolicyHolder } from '../live-policy/holder.js'
import { errorBodyFor, type ErrorBody } from '../errors/index.js'
import { healthRoute, readyRoute } from '../schemas/health.js'

export function healthRoutes (app: FastifyInstance, opts: { db: Database, policies: PolicyHolder, timeoutMs: number }): void {
  app.get('/health', {
    config: { access: 'public' },
    schema: healthRoute
  }, async () => ({ status: 'ok' }))

  app.get('/ready', {
    config: { access: 'public' },
    schema: readyRoute
  }, async (_request, reply) => {
    const problem = await databaseProblem(opts.db, opts.timeoutMs) ?? (opts.policies.isLoaded ? null : errorBodyFor('noPolicyLoaded'))
    if (problem !== null) return await reply.code(503).send(problem)
    return { status: 'ready', policy_snapshot: opts.policies.current.snapshotId }
  })
}

/** Why the database is not ready to serve, or null. */
async function databaseProblem (db: Database, timeoutMs: number): Promise<ErrorBody | null> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<ErrorBody>((resolve) => { timer = setTimeout(() => resolve(errorBodyFor('databaseTimeout', timeoutMs)), timeoutMs) })
  try {
    return await Promise.race([db.query('select 1').then(() => null), timeout])
  } catch (err) {
    return errorBodyFor('databaseUnreachable', (err as Error).message)
  } finally {
    clearTimeout(timer)
  }
}
