import t from 'tap'
import { testApp, type TestApp } from '../helpers.js'

async function check (ctx: TestApp, body: Record<string, unknown>): Promise<Record<string, any>> {
  const res = await ctx.app.inject({ method: 'POST', url: '/check', payload: body })
  if (res.statusCode !== 200) throw new Error(res.body)
  return res.json()
}

async function event (ctx: TestApp, jobId: string, body: Record<string, unknown>) {
  return await ctx.app.inject({ method: 'POST', url: `/jobs/${encodeURIComponent(jobId)}/events`, payload: body })
}

t.test('job events: recorded under the job trace; a terminal status is final; unknown jobs 404', async (t) => {
  const ctx = await testApp(t)
  const d = await check(ctx, { job_id: 'job-1', topic: 'job.mcp-bridge.read.x', tenant_id: 'acme', trace_id: 'incident-7' })
  const dispatched = await event(ctx, 'job-1', { tenant_id: 'acme', status: 'DISPATCHED' })
  t.equal(dispatched.statusCode, 201)
  t.match(dispatched.json(), { job_id: 'job-1', tenant_id: 'acme', trace_id: 'incident-7', status: 'DISPATCHED', seq: 2, signature: /^hmac-sha256:/ })
  t.equal((await event(ctx, 'job-1', { tenant_id: 'acme', status: 'RUNNING', detail: 'pid 42' })).statusCode, 201)
  t.equal((await event(ctx, 'job-1', { tenant_id: 'acme', status: 'SUCCEEDED' })).statusCode, 201)
  const again = await event(ctx, 'job-1', { tenant_id: 'acme', status: 'FAILED' })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'ARBITER_ERR_JOB_FINAL')

  const unknown = await event(ctx, 'job-2', { tenant_id: 'acme', status: 'RUNNING' })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'ARBITER_ERR_NOT_FOUND')
  t.equal((await event(ctx, 'job-1', { status: 'RUNNING' })).statusCode, 404, 'another tenant\'s job looks unknown')
  const bad = await event(ctx, 'job-1', { tenant_id: 'acme', status: 'DONE' })
  t.equal(bad.statusCode, 400)
  t.equal((await event(ctx, 'job-1', { tenant_id: 'acme', status: 'RUNNING', extra: 1 })).statusCode, 400)

  const trace = await ctx.app.inject({ url: '/traces/incident-7' })
  t.equal(trace.statusCode, 200)
  const entries = trace.json().entries
  t.same(entries.map((e: { type: string, status: string | null }) => [e.type, e.status]), [['decision', null], ['job.event', 'DISPATCHED'], ['job.event', 'RUNNING'], ['job.event', 'SUCCEEDED']])
  t.match(entries[0], { tenant_id: 'acme', seq: 1, decision: 'ALLOW', rule_id: 'allow-low-risk-read', reason: 'matched rule allow-low-risk-read', job_id: 'job-1', trace_id: 'incident-7', approval_state: null, actor: { principal_id: 'test-admin', key_id: /^key_[0-9a-f]{16}$/ }, at: d.checked_at })
  t.match(entries[2], { status: 'RUNNING', detail: 'pid 42' })
  t.match(trace.json().jobs, [{ tenant_id: 'acme', job_id: 'job-1', terminal_status: 'SUCCEEDED', violations: 0 }], 'the job\'s terminal status, once')
  t.equal((await ctx.app.inject({ url: '/traces/nothing-here' })).statusCode, 404)
})

t.test('racing terminal reports: exactly one is recorded', async (t) => {
  const ctx = await testApp(t)
  await check(ctx, { job_id: 'race', topic: 'job.mcp-bridge.read.x' })
  const answers = await Promise.all(['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'FAILED'].map(async (status) => await event(ctx, 'race', { status })))
  t.same(answers.map((a) => a.statusCode).sort(), [201, 409, 409, 409, 409])
})

t.test('GET /decisions: filters, newest first, cursor pagination', async (t) => {
  // A clock a second apart per reading, so time windows cannot straddle equal timestamps.
  let tick = 0
  const ctx = await testApp(t, { deps: { clock: { now: () => new Date(Date.UTC(2026, 0, 1) + 1000 * tick++) } } })
  const made = []
  for (let i = 0; i < 7; i++) {
    made.push(await check(ctx, { job_id: `j${i}`, topic: i % 2 === 0 ? 'job.mcp-bridge.read.x' : 'job.mcp-bridge.write.x', risk_tags: i % 2 === 0 ? [] : ['prod'], tenant_id: i < 5 ? 'acme' : 'globex' }))
  }
  const all = (await ctx.app.inject({ url: '/decisions' })).json()
  t.same(all.decisions.map((d: { decision_id: string }) => d.decision_id), made.map((d) => d.decision_id).reverse(), 'newest first')
  t.equal(all.next_cursor, null)
  t.match(all.decisions[0], { job_id: 'j6', tenant_id: 'globex', topic: 'job.mcp-bridge.read.x', decision: 'ALLOW', signature: made[6].signature, matched_rules: ['allow-low-risk-read'] })

  const seen: string[] = []
  let url = '/decisions?tenant_id=acme&limit=2'
  for (let pages = 0; pages < 10; pages++) {
    const page = (await ctx.app.inject({ url })).json()
    seen.push(...page.decisions.map((d: { job_id: string }) => d.job_id))
    if (page.next_cursor === null) break
    url = `/decisions?tenant_id=acme&limit=2&cursor=${String(page.next_cursor)}`
  }
  t.same(seen, ['j4', 'j3', 'j2', 'j1', 'j0'], 'pages walk the tenant\'s decisions once each')

  const q = async (qs: string): Promise<string[]> => (await ctx.app.inject({ url: `/decisions?${qs}` })).json().decisions.map((d: { job_id: string }) => d.job_id)
  t.same(await q('decision=REQUIRE_APPROVAL'), ['j5', 'j3', 'j1'])
  t.same(await q('rule_id=allow-low-risk-read&tenant_id=globex'), ['j6'])
  t.same(await q('job_id=j3'), ['j3'])
  t.same(await q('topic=job.mcp-bridge.write.x&tenant_id=acme'), ['j3', 'j1'])
  t.same(await q(`since=${encodeURIComponent(made[5].checked_at)}`), ['j6', 'j5'])
  t.same(await q(`until=${encodeURIComponent(made[1].checked_at)}`), ['j0'])

  for (const bad of ['limit=0', 'limit=1000', 'decision=MAYBE', 'since=yesterday', 'since=0000-01-01T00:00:00Z', 'until=0000-01-01T00:00:00Z', 'cursor=!!', 'cursor=bm9wZQ', 'cursor=WyIxIiwiYWNtZSIsMV0', 'cursor=WyIyMDI2LTAxLTAxVDAwOjAwOjAwWiIsImFjbWUiLDFlMzAwXQ', 'colour=red']) {
    const res = await ctx.app.inject({ url: `/decisions?${bad}` })
    t.equal(res.statusCode, 400, bad)
    t.equal(res.json().code, 'ARBITER_ERR_VALIDATION', bad)
  }
})

t.test('long ids and bad escapes in paths get the catalogue 400, not a router error', async (t) => {
  const ctx = await testApp(t)
  const long = 'j'.repeat(256)
  await check(ctx, { job_id: long, topic: 'job.mcp-bridge.read.x', trace_id: 't'.repeat(128) })
  t.equal((await event(ctx, long, { status: 'RUNNING' })).statusCode, 201)
  t.equal((await ctx.app.inject({ url: `/traces/${'t'.repeat(128)}` })).statusCode, 200)
  for (const url of [`/traces/${'t'.repeat(2000)}`, '/traces/%E0%A4%A']) {
    const res = await ctx.app.inject({ url })
    t.equal(res.statusCode, 400, url.slice(0, 20))
    t.equal(res.json().code, 'ARBITER_ERR_VALIDATION')
  }
})
