/**
 * A job's story, whole and honest, over real HTTP: one trace per job without the scheduler naming
 * one, GET /jobs/:job_id, and reports of a job running without an ALLOW recorded as violations.
 */
import t from 'tap'
import { jobTraceId } from '../../src/jobs/trace.js'
import { approvalApp, deploy, prodWrite, type ApprovalCtx } from '../fixtures/approvals.js'

interface Http {
  get: (url: string, token: string) => Promise<{ status: number, body: any }>
  post: (url: string, token: string, body: unknown) => Promise<{ status: number, body: any }>
}

async function overHttp (ctx: ApprovalCtx): Promise<Http> {
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const address = ctx.app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  const base = `http://127.0.0.1:${address.port}`
  const call = async (method: string, url: string, token: string, body?: unknown): Promise<{ status: number, body: any }> => {
    const res = await fetch(base + url, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) })
    return { status: res.status, body: await res.json() }
  }
  return { get: async (url, token) => await call('GET', url, token), post: async (url, token, body) => await call('POST', url, token, body) }
}

t.test('check, approval, three polls, approve, dispatch, success: one trace, in order, one terminal status', async (t) => {
  const ctx = await approvalApp(t)
  const http = await overHttp(ctx)
  const job = prodWrite('story-1', { trace_id: undefined })
  const check = async (): Promise<any> => {
    const res = await http.post('/check', ctx.tokens.scheduler, job)
    t.equal(res.status, 200)
    return res.body
  }
  const asked = await check()
  t.equal(asked.decision, 'REQUIRE_APPROVAL')
  const trace = jobTraceId('default', 'story-1')
  t.equal(asked.trace_id, trace, 'the answer names the job\'s trace')
  for (let i = 0; i < 3; i++) {
    ctx.clock.advance(5)
    t.equal((await check()).trace_id, trace, 'a poll joins the job\'s trace')
  }
  ctx.clock.advance(5)
  t.equal((await http.post('/approvals/story-1/approve', ctx.tokens.alice, { note: 'looked at the diff' })).status, 200)
  ctx.clock.advance(5)
  const allowed = await check()
  t.match(allowed, { decision: 'ALLOW_WITH_CONSTRAINTS', trace_id: trace })
  t.equal((await http.post('/jobs/story-1/events', ctx.tokens.scheduler, { status: 'DISPATCHED' })).status, 201)
  t.equal((await http.post('/jobs/story-1/events', ctx.tokens.scheduler, { status: 'SUCCEEDED', detail: 'ticket 42 closed' })).status, 201)

  const timeline = await http.get(`/traces/${trace}`, ctx.tokens.auditor)
  t.equal(timeline.status, 200)
  const { entries } = timeline.body
  t.same(entries.map((e: any) => e.type), [
    'approval.requested', 'decision', 'decision', 'decision', 'decision', 'approval.vote', 'approval.resolved',
    'approval.consumed', 'decision', 'job.event', 'job.event'
  ], 'every record of the job, in order')
  t.same(entries.map((e: any) => e.seq), entries.map((_e: unknown, i: number) => i + 1))
  t.ok(entries.every((e: any) => e.trace_id === trace && e.job_id === 'story-1'))
  t.same(timeline.body.jobs, [{ tenant_id: 'default', job_id: 'story-1', trace_id: trace, terminal_status: 'SUCCEEDED', violations: 0 }], 'the terminal status, once, at the top')
  t.notOk(entries.some((e: any) => 'job_status' in e), 'not repeated in every entry')
  t.same(timeline.body.linked_traces, [])
  t.match(entries[5], { type: 'approval.vote', vote: 'APPROVE', note: 'looked at the diff', actor: { principal_id: 'alice' } })
  t.match(entries[8], { type: 'decision', decision: 'ALLOW_WITH_CONSTRAINTS', rule_id: 'prod-write', constraints: { max_runtime_sec: 60 }, approval_id: asked.approval.approval_id })
  t.match(entries[10], { type: 'job.event', status: 'SUCCEEDED', detail: 'ticket 42 closed' })

  const story = await http.get('/jobs/story-1', ctx.tokens.auditor)
  t.equal(story.status, 200)
  t.match(story.body, {
    tenant_id: 'default',
    job_id: 'story-1',
    trace_id: trace,
    traces: [trace],
    decision: { decision: 'ALLOW_WITH_CONSTRAINTS', decision_id: allowed.decision_id, rule_id: 'prod-write', trace_id: trace },
    approval: { approval_id: asked.approval.approval_id, approval_state: 'CONSUMED' },
    dispatch_status: 'DISPATCHED',
    terminal_status: 'SUCCEEDED',
    violations: 0
  })
  t.same(story.body.entries, entries, 'the job\'s story is its trace')
  t.equal(await ctx.verify(), 11, 'and the log verifies')
})

t.test('a caller that names its own trace gets it, and the job\'s two traces name each other', async (t) => {
  const ctx = await approvalApp(t)
  const http = await overHttp(ctx)
  const asked = await http.post('/check', ctx.tokens.scheduler, prodWrite('split', { trace_id: 'incident-9' }))
  t.equal(asked.body.trace_id, 'incident-9')
  await ctx.vote('split', 'approve', ctx.tokens.alice)
  const allowed = await http.post('/check', ctx.tokens.scheduler, prodWrite('split', { trace_id: undefined }))
  const own = jobTraceId('default', 'split')
  t.equal(allowed.body.trace_id, own)
  t.equal((await http.post('/jobs/split/events', ctx.tokens.scheduler, { status: 'DISPATCHED' })).body.trace_id, own)

  const named = await http.get('/traces/incident-9', ctx.tokens.auditor)
  // An approval's records stay under the trace of the check that asked for it.
  t.same(named.body.entries.map((e: any) => e.type), ['approval.requested', 'decision', 'approval.vote', 'approval.resolved', 'approval.consumed'])
  t.same(named.body.linked_traces, [own])
  const derived = await http.get(`/traces/${own}`, ctx.tokens.auditor)
  t.same(derived.body.entries.map((e: any) => e.type), ['decision', 'job.event'])
  t.same(derived.body.linked_traces, ['incident-9'])
  const story = await http.get('/jobs/split', ctx.tokens.auditor)
  t.same(story.body.traces, ['incident-9', own])
  t.equal(story.body.entries.length, 7, 'the job\'s story holds both')
})

t.test('GET /jobs/:job_id is scoped: tenant, agent, role', async (t) => {
  const ctx = await approvalApp(t)
  const http = await overHttp(ctx)
  await http.post('/check', ctx.tokens.scheduler, { job_id: 'r-1', topic: 'job.read.logs', principal_id: 'agent:bot', tenant_id: 'acme' })
  t.equal((await http.get('/jobs/r-1?tenant_id=acme', ctx.tokens.scheduler)).status, 200, 'a scheduler reads its agents\' jobs')
  t.equal((await http.get('/jobs/r-1', ctx.tokens.auditor)).status, 404, 'another tenant: not there')
  const acmeOnly = await ctx.token({ principal_id: 'audit-2', roles: ['auditor'], tenants: ['globex'] })
  t.equal((await http.get('/jobs/r-1?tenant_id=acme', acmeOnly)).body.code, 'ARBITER_ERR_NOT_FOUND', 'a tenant beyond the key: not there')
  const otherAgent = await ctx.token({ principal_id: 'sched-2', roles: ['scheduler'], tenants: ['*'], agents: ['agent:other'] })
  t.equal((await http.get('/jobs/r-1?tenant_id=acme', otherAgent)).status, 404, 'another agent\'s job looks unknown')
  t.equal((await http.get('/jobs/r-1?tenant_id=acme', ctx.tokens.alice)).status, 403, 'a reviewer is not a reader of jobs')
  t.equal((await http.get('/jobs/nope?tenant_id=acme', ctx.tokens.auditor)).status, 404)
  for (const url of ['/jobs/r-1?tenant_id=acme&x=1', '/jobs/r-1?tenant_id=a%20b', `/jobs/${'j'.repeat(300)}`]) {
    const res = await http.get(url, ctx.tokens.auditor)
    t.equal(res.status, 400, url.slice(0, 30))
    t.equal(res.body.code, 'ARBITER_ERR_VALIDATION')
  }
})

t.test('a job reported running without an ALLOW is a violation: recorded, counted, listed, refused 409', async (t) => {
  const ctx = await approvalApp(t)
  const http = await overHttp(ctx)
  await http.post('/check', ctx.tokens.scheduler, { job_id: 'denied-1', topic: 'job.write.x', risk_tags: ['destructive'], principal_id: 'agent:bot' })
  await http.post('/check', ctx.tokens.scheduler, prodWrite('pending-1'))

  const ran = await http.post('/jobs/denied-1/events', ctx.tokens.scheduler, { status: 'SUCCEEDED', detail: 'ran anyway' })
  t.equal(ran.status, 409)
  t.match(ran.body, { statusCode: 409, code: 'ARBITER_ERR_NOT_AUTHORIZED', error: 'Conflict', violation: { job_id: 'denied-1', tenant_id: 'default', status: 'SUCCEEDED', kind: 'ran_without_allow', decision: 'DENY', seq: 4, signature: /^hmac-sha256:/ } })
  const pending = await http.post('/jobs/pending-1/events', ctx.tokens.scheduler, { status: 'DISPATCHED' })
  t.match(pending.body, { code: 'ARBITER_ERR_NOT_AUTHORIZED', violation: { kind: 'ran_without_allow', decision: 'REQUIRE_APPROVAL' } })
  t.equal((await http.post('/jobs/pending-1/events', ctx.tokens.scheduler, { status: 'CANCELLED' })).status, 201, 'cancelling a job that never ran is no violation')
  t.equal((await http.post('/jobs/denied-1/events', ctx.tokens.scheduler, { status: 'CANCELLED' })).status, 201, 'nor is cancelling a denied one, even after a violation')

  const listed = await http.get('/violations', ctx.tokens.auditor)
  t.equal(listed.status, 200)
  t.match(listed.body.violations, [
    { job_id: 'pending-1', status: 'DISPATCHED', kind: 'ran_without_allow', decision: 'REQUIRE_APPROVAL', actor: { principal_id: 'sched-1' } },
    { job_id: 'denied-1', status: 'SUCCEEDED', kind: 'ran_without_allow', decision: 'DENY', reason: /latest decision is DENY/ }
  ])
  t.same((await http.get('/violations?job_id=denied-1', ctx.tokens.auditor)).body.violations.map((v: any) => v.seq), [4])
  t.equal((await http.get('/violations', ctx.tokens.scheduler)).status, 403, 'violations are for auditors')
  const story = await http.get('/jobs/denied-1', ctx.tokens.auditor)
  t.match(story.body, { violations: 1, terminal_status: 'CANCELLED' })
  t.match(story.body.entries[1], { type: 'job.violation', status: 'SUCCEEDED', kind: 'ran_without_allow', decision: 'DENY', detail: 'ran anyway' })

  const metrics = await ctx.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${ctx.tokens.auditor}` } })
  t.match(metrics.body, /arbiter_violations_total\{tenant="default",kind="ran_without_allow"\} 2/)
  t.equal(await ctx.verify(), 7)
})

t.test('an ALLOW an approval paid for covers one dispatch; a plain ALLOW covers the job\'s retries', async (t) => {
  const ctx = await approvalApp(t)
  const http = await overHttp(ctx)
  await http.post('/check', ctx.tokens.scheduler, deploy('d-1'))
  await ctx.vote('d-1', 'approve', ctx.tokens.alice)
  await ctx.vote('d-1', 'approve', ctx.tokens.bob)
  t.equal((await http.post('/check', ctx.tokens.scheduler, deploy('d-1'))).body.decision, 'ALLOW')
  const twice = await Promise.all([1, 2].map(async () => await http.post('/jobs/d-1/events', ctx.tokens.scheduler, { status: 'DISPATCHED' })))
  t.same(twice.map((r) => r.status).sort(), [201, 409], 'of two racing dispatches, one is the violation')
  t.equal(twice.find((r) => r.status === 409)?.body.violation.kind, 'allow_already_used')
  t.equal((await http.post('/jobs/d-1/events', ctx.tokens.scheduler, { status: 'RUNNING' })).status, 201, 'running after its dispatch is covered')

  await http.post('/check', ctx.tokens.scheduler, { job_id: 'read-1', topic: 'job.read.logs', principal_id: 'agent:bot' })
  for (const status of ['DISPATCHED', 'RUNNING', 'DISPATCHED', 'SUCCEEDED']) {
    t.equal((await http.post('/jobs/read-1/events', ctx.tokens.scheduler, { status })).status, 201, `${status} on a policy ALLOW`)
  }
})

t.test('GET /decisions filters by session and shows the constraints', async (t) => {
  const ctx = await approvalApp(t)
  await ctx.check({ job_id: 'a', topic: 'job.read.x', session_id: 's-1' })
  await ctx.check({ job_id: 'b', topic: 'job.read.x', session_id: 's-2' })
  await ctx.check(prodWrite('c', { session_id: 's-1' }))
  const res = await ctx.call('GET', '/decisions?session_id=s-1', ctx.tokens.auditor)
  t.equal(res.statusCode, 200)
  t.same(res.json().decisions.map((d: any) => d.job_id), ['c', 'a'])
  t.same(res.json().decisions[0].constraints, { max_runtime_sec: 60 })
})
