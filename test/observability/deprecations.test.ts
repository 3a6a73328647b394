/**
 * No deprecation warnings in a realistic run on Postgres: pg warns when a query is given to a
 * client that is still running one (pg@9 will refuse it), fastify when a removed-in-v6 option is
 * used. Each test file runs in its own process, so the warnings collected here are this flow's.
 */
import { setImmediate as tick } from 'node:timers/promises'
import t from 'tap'
import { buildMetricsApp } from '../../src/app.js'
import { approvalApp, prodWrite } from '../fixtures/approvals.js'
import { ON_POSTGRES } from '../helpers.js'

const warnings: Error[] = []
// Node's util.deprecate names its warnings DeprecationWarning; fastify's are FastifyDeprecation.
process.on('warning', (w) => { if (/Deprecation/.test(w.name)) warnings.push(w) })

t.test('a flow of checks, approvals, reads, a reload and scrapes warns of nothing deprecated', {
  skip: ON_POSTGRES ? false : 'the embedded database has no pg client to misuse: set DATABASE_URL to run this'
}, async (t) => {
  const ctx = await approvalApp(t)
  // At once, as a busy scheduler sends them: the pool opens connections while queries wait.
  const reads = await Promise.all(Array.from({ length: 24 }, async (_, i) =>
    await ctx.check({ job_id: `r${i}`, topic: 'job.read.ticket', principal_id: 'agent:bot' })))
  t.ok(reads.every((r) => r.decision === 'ALLOW'))
  const asked = await ctx.check(prodWrite('w1'))
  t.equal(asked.decision, 'REQUIRE_APPROVAL')
  t.equal((await ctx.vote('w1', 'approve', ctx.tokens.alice, { job_hash: asked.job_hash })).statusCode, 200)
  t.equal((await ctx.check(prodWrite('w1'))).decision, 'ALLOW_WITH_CONSTRAINTS')
  const pages = await Promise.all([
    ctx.call('GET', '/approvals', ctx.tokens.alice),
    ctx.call('GET', '/decisions', ctx.tokens.auditor),
    ctx.call('GET', '/traces/trace-w1', ctx.tokens.auditor),
    ctx.call('GET', '/metrics', ctx.tokens.auditor),
    ctx.app.inject({ url: '/ready' })
  ])
  t.same(pages.map((r) => r.statusCode), [200, 200, 200, 200, 200])
  t.equal((await ctx.app.policies.reload()).ok, true)
  const metricsApp = buildMetricsApp(ctx.app.metrics, ctx.deps.logger)
  t.equal((await metricsApp.inject({ url: '/metrics' })).statusCode, 200)
  await metricsApp.close()
  await ctx.app.checkpointer.sweep()
  await ctx.app.close()
  await tick()
  t.same(warnings.map((w) => `${w.name}: ${w.message}`), [], 'no deprecation warnings')
})
