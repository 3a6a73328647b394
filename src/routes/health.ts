import type { FastifyInstance } from 'fastify'
import type { Database } from '../store/db.js'
import type { PolicyHolder } from '../live-policy/holder.js'
import { errorBody } from '../errors.js'
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
    const problem = await databaseProblem(opts.db, opts.timeoutMs)
    if (problem !== null || !opts.policies.isLoaded) {
      return await reply.code(503).send(errorBody('ARBITER_ERR_NOT_READY', problem ?? 'no policy is loaded'))
    }
    return { status: 'ready', policy_snapshot: opts.policies.current.snapshotId }
  })
}

async function databaseProblem (db: Database, timeoutMs: number): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<string>((resolve) => { timer = setTimeout(() => resolve(`database did not answer within ${timeoutMs} ms`), timeoutMs) })
  try {
    return await Promise.race([db.query('select 1').then(() => null), timeout])
  } catch (err) {
    return `database unreachable: ${(err as Error).message}`
  } finally {
    clearTimeout(timer)
  }
}
