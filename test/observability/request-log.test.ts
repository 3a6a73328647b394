/**
 * The "request completed" line of a /check names what was decided — decision, rule, decision id —
 * beside the tenant, job and trace, so an operator can go from a log line to the audit record.
 * Routes about one job or trace name it too.
 */
import t from 'tap'
import { holdTableLock, testApp, type TestApp } from '../helpers.js'

type Line = Record<string, unknown> & { msg: string }

/** Sends a request under a request id of its own and returns its answer and its "request completed" line. */
async function completed (ctx: TestApp, reqId: string, opts: { method?: 'GET' | 'POST', url: string, payload?: Record<string, unknown> }): Promise<{ status: number, body: Record<string, any>, line: Line, raw: string }> {
  const res = await ctx.app.inject({ method: opts.method ?? 'POST', url: opts.url, payload: opts.payload, headers: { 'x-request-id': reqId } })
  const raw = ctx.logLines.find((l) => { const o = JSON.parse(l) as Line; return o.reqId === reqId && o.msg === 'request completed' })
  if (raw === undefined) throw new Error(`no "request completed" line for ${reqId}`)
  return { status: res.statusCode, body: res.json(), line: JSON.parse(raw) as Line, raw }
}

t.test('/check: decision, rule id, decision id, job id and trace id on the completed line', async (t) => {
  const ctx = await testApp(t)
  const given = await completed(ctx, 'rq-1', { url: '/check', payload: { job_id: 'r1', topic: 'job.mcp-bridge.read.ticket', tenant_id: 'acme', trace_id: 'incident-7' } })
  t.equal(given.status, 200)
  t.match(given.line, { level: 30, res: { statusCode: 200 }, tenantId: 'acme', jobId: 'r1', traceId: 'incident-7', decision: 'ALLOW', ruleId: 'allow-low-risk-read', decisionId: given.body.decision_id })
  t.equal(given.raw.split('"traceId"').length - 1, 1, 'the trace id once, not twice')

  const made = await completed(ctx, 'rq-2', { url: '/check', payload: { job_id: 'u1', topic: 'job.unknown.thing' } })
  t.match(made.line, { jobId: 'u1', decision: 'DENY', ruleId: null, traceId: made.body.trace_id }, 'a trace id Arbiter made up, and no rule')
  t.equal(made.raw.split('"traceId"').length - 1, 1)

  const simulated = await completed(ctx, 'rq-3', { url: '/check/simulate', payload: { job_id: 's1', topic: 'job.mcp-bridge.read.ticket' } })
  t.equal(simulated.status, 200)
  t.match(simulated.line, { jobId: 's1' })
  t.notOk('decision' in simulated.line, 'a simulation decides nothing on record')
})

t.test('/check answering an unrecorded DENY: the completed line says so', async (t) => {
  const ctx = await testApp(t, { env: { CHECK_BUDGET_MS: '300', ARBITER_AUTH: 'disabled' } })
  const release = await holdTableLock(ctx.testDb, 'audit_log')
  const res = await completed(ctx, 'rq-503', { url: '/check', payload: { job_id: 'stall', topic: 'job.mcp-bridge.read.x', trace_id: 'tr-stall' } })
  await release()
  t.equal(res.status, 503)
  t.match(res.line, { res: { statusCode: 503 }, jobId: 'stall', traceId: 'tr-stall', decision: 'DENY', ruleId: null, recorded: false })
  const error = ctx.logLines.map((l) => JSON.parse(l) as Line).find((l) => l.reqId === 'rq-503' && l.msg === 'decision not recorded; answering DENY')
  t.match(error, { level: 50, traceId: 'tr-stall', jobId: 'stall' })
})

t.test('routes about one job or one trace name it on the completed line', async (t) => {
  const ctx = await testApp(t)
  await completed(ctx, 'rq-c', { url: '/check', payload: { job_id: 'job-1', topic: 'job.mcp-bridge.read.x', tenant_id: 'acme', trace_id: 'incident-7' } })
  const event = await completed(ctx, 'rq-e', { url: '/jobs/job-1/events', payload: { tenant_id: 'acme', status: 'DISPATCHED' } })
  t.equal(event.status, 201)
  t.match(event.line, { tenantId: 'acme', jobId: 'job-1' })
  const trace = await completed(ctx, 'rq-t', { method: 'GET', url: '/traces/incident-7' })
  t.equal(trace.status, 200)
  t.match(trace.line, { traceId: 'incident-7' })
})

t.test("fields bound to one request's log stay off every other request's lines", async (t) => {
  const ctx = await testApp(t)
  // Concurrent checks: each request's logger is its own, so fields bound in place cannot cross.
  const jobs = Array.from({ length: 20 }, (_, i) => `cc-${i}`)
  const lines = await Promise.all(jobs.map(async (job, i) => await completed(ctx, `rq-cc-${i}`, { url: '/check', payload: { job_id: job, topic: i % 2 === 0 ? 'job.mcp-bridge.read.ticket' : 'job.unknown.thing', tenant_id: 'acme' } })))
  lines.forEach((l, i) => {
    t.match(l.line, { jobId: jobs[i], decision: i % 2 === 0 ? 'ALLOW' : 'DENY', decisionId: l.body.decision_id })
    for (const key of ['"jobId"', '"decision"', '"tenantId"', '"principal"']) t.equal(l.raw.split(key).length - 1, 1, `${key} once on line ${i}`)
  })
  const trace = await completed(ctx, 'rq-after', { method: 'GET', url: '/traces/nothing-here' })
  for (const key of ['jobId', 'decision', 'decisionId', 'tenantId']) t.notOk(key in trace.line, `no ${key} on a later request's line`)
  const app = ctx.logLines.map((l) => JSON.parse(l) as Line).filter((l) => l.reqId === undefined)
  t.notOk(app.some((l) => 'jobId' in l || 'decision' in l), 'nor on the server\'s own lines')
})
