import t, { type Test } from 'tap'
import { checkRecord, type ParsedRecord } from '../../src/audit/chain.js'
import { countRecords, getDecisionRecord } from '../../src/store/log-read.js'
import { jobTraceId } from '../../src/jobs/trace.js'
import { testApp, type TestApp } from '../helpers.js'

async function check (ctx: TestApp, body: unknown) {
  const res = await ctx.app.inject({ method: 'POST', url: '/check', payload: body as Record<string, unknown> })
  return { status: res.statusCode, body: res.json(), headers: res.headers }
}

async function assertRecorded (t: Test, ctx: TestApp, body: Record<string, unknown>): Promise<void> {
  const row = await getDecisionRecord(ctx.db, body.decision_id as string)
  if (row === undefined) {
    t.fail(`no record for decision ${String(body.decision_id)}`)
    return
  }
  t.equal(checkRecord(row, new Map([[ctx.deps.key.id, ctx.deps.key.secret]])), null, 'the record verifies')
  t.equal(`hmac-sha256:${row.key_id}:${row.signature}`, body.signature, 'the answer carries the stored signature')
  const signed = JSON.parse(row.record) as ParsedRecord
  t.equal(signed.type, 'decision')
  t.equal(signed.trace_id, body.trace_id)
  t.equal(signed.at, body.checked_at)
  for (const k of ['decision_id', 'decision', 'reason', 'rule_id', 'matched_rules', 'constraints', 'policy_snapshot', 'job_hash']) {
    t.same(signed.body[k], body[k], `signed ${k} equals the answer's`)
  }
}

t.test('the example policy over HTTP: every 200 answer has a verifying record', async (t) => {
  const ctx = await testApp(t)
  const cases: Array<[Record<string, unknown>, string, string | null]> = [
    [{ job_id: 'r1', topic: 'job.mcp-bridge.read.ticket' }, 'ALLOW', 'allow-low-risk-read'],
    [{ job_id: 'r2', topic: 'job.mcp-bridge.read.ticket', risk_tags: ['prod'] }, 'DENY', null],
    [{ job_id: 'w1', topic: 'job.mcp-bridge.write.ticket', risk_tags: ['prod'] }, 'REQUIRE_APPROVAL', 'require-approval-prod-write'],
    [{ job_id: 'w2', topic: 'job.mcp-bridge.write.ticket', risk_tags: ['prod', 'destructive'] }, 'DENY', 'deny-destructive'],
    [{ job_id: 'e1', topic: 'job.agent.exec.shell', risk_tags: ['medium'], command: 'ls -la' }, 'ALLOW_WITH_CONSTRAINTS', 'constrain-medium-risk'],
    [{ job_id: 'u1', topic: 'job.unknown', tenant_id: 'acme', labels: { env: 'dev' }, args: { a: [1, { b: null }] } }, 'DENY', null]
  ]
  for (const [req, decision, ruleId] of cases) {
    const res = await check(ctx, req)
    t.equal(res.status, 200, `${String(req.job_id)} answered 200`)
    t.equal(res.body.decision, decision, `${String(req.job_id)} → ${decision}`)
    t.equal(res.body.rule_id, ruleId)
    t.match(res.body.decision_id, /^[0-9a-f-]{36}$/)
    t.match(res.body.job_hash, /^sha256:[0-9a-f]{64}$/)
    t.match(res.body.policy_snapshot, /^sha256:[0-9a-f]{64}$/)
    await assertRecorded(t, ctx, res.body)
  }
  const exec = await check(ctx, cases[4][0])
  t.same(exec.body.constraints, { max_runtime_sec: 45, max_retries: 1 })
  t.equal(await countRecords(ctx.db, 'decision'), cases.length + 1, 'one decision record per answer')
  t.equal(await countRecords(ctx.db, 'approval.requested'), 1, 'and the approval the production write asked for')
})

t.test('trace ids: kept when given, else the job\'s own', async (t) => {
  const ctx = await testApp(t)
  const given = await check(ctx, { job_id: 'a', topic: 'x.y', trace_id: 'trace-123' })
  t.equal(given.body.trace_id, 'trace-123')
  const generated = await check(ctx, { job_id: 'a', topic: 'x.y' })
  t.equal(generated.body.trace_id, jobTraceId('default', 'a'))
  t.not(jobTraceId('acme', 'a'), generated.body.trace_id, 'another tenant\'s job of the same id has another trace')
  t.equal(given.body.job_hash, generated.body.job_hash, 'the trace id is not part of the job hash')
})

t.test('simulate explains and records nothing', async (t) => {
  const ctx = await testApp(t)
  const res = await ctx.app.inject({ method: 'POST', url: '/check/simulate', payload: { job_id: 's', topic: 'job.mcp-bridge.write.x', risk_tags: ['prod', 'destructive'] } })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.equal(body.decision, 'DENY')
  t.equal(body.recorded, false)
  t.same(body.matches.map((m: { rule_id: string }) => m.rule_id), ['require-approval-prod-write', 'deny-destructive'])
  t.ok(body.matches.every((m: { why: string[] }) => m.why.length > 0), 'every match says why')
  t.equal(await countRecords(ctx.db), 0)
})

t.test('bad input is a 400 in one shape that names the field, never a 500', async (t) => {
  const ctx = await testApp(t, { env: { BODY_LIMIT_BYTES: '2048' } })
  const cases: Array<[string, { payload?: string, headers?: Record<string, string> }, string, RegExp]> = [
    ['malformed JSON', { payload: '{"job_id": "a",' }, 'ARBITER_ERR_INVALID_JSON', /JSON/],
    ['empty body', { payload: '' }, 'ARBITER_ERR_INVALID_JSON', /empty/i],
    ['JSON that is not an object', { payload: '[1,2]' }, 'ARBITER_ERR_VALIDATION', /^body must be object/],
    ['missing job_id', { payload: '{"topic":"a.b"}' }, 'ARBITER_ERR_VALIDATION', /body\.job_id is required/],
    ['missing topic', { payload: '{"job_id":"a"}' }, 'ARBITER_ERR_VALIDATION', /body\.topic is required/],
    ['mistyped job_id', { payload: '{"job_id":1,"topic":"a.b"}' }, 'ARBITER_ERR_VALIDATION', /body\.job_id must be string/],
    ['mistyped risk_tags', { payload: '{"job_id":"a","topic":"a.b","risk_tags":"prod"}' }, 'ARBITER_ERR_VALIDATION', /body\.risk_tags must be array/],
    ['mistyped label value', { payload: '{"job_id":"a","topic":"a.b","labels":{"env":1}}' }, 'ARBITER_ERR_VALIDATION', /body\.labels\.env must be string/],
    ['bad topic', { payload: '{"job_id":"a","topic":"a..b"}' }, 'ARBITER_ERR_VALIDATION', /body\.topic must match pattern/],
    ['unknown field', { payload: '{"job_id":"a","topic":"a.b","approved":true}' }, 'ARBITER_ERR_VALIDATION', /unknown field 'approved'/],
    ['prototype pollution', { payload: '{"job_id":"a","topic":"a.b","__proto__":{"x":1}}' }, 'ARBITER_ERR_INVALID_JSON', /./],
    ['oversize body', { payload: JSON.stringify({ job_id: 'a', topic: 'a.b', args: { pad: 'x'.repeat(4096) } }) }, 'ARBITER_ERR_BODY_TOO_LARGE', /too large/i],
    ['wrong media type', { payload: 'job_id=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 'ARBITER_ERR_UNSUPPORTED_MEDIA_TYPE', /./],
    ['text/plain', { payload: '{"job_id":"a","topic":"a.b"}', headers: { 'content-type': 'text/plain' } }, 'ARBITER_ERR_UNSUPPORTED_MEDIA_TYPE', /./]
  ]
  for (const [name, req, code, message] of cases) {
    const res = await ctx.app.inject({ method: 'POST', url: '/check', payload: req.payload, headers: { 'content-type': 'application/json', ...req.headers } })
    const body = res.json()
    t.ok(res.statusCode >= 400 && res.statusCode < 500, `${name}: 4xx (${res.statusCode})`)
    t.equal(res.statusCode, code === 'ARBITER_ERR_UNSUPPORTED_MEDIA_TYPE' ? 415 : 400, `${name}: status`)
    t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], `${name}: one error shape`)
    t.equal(body.code, code, `${name}: code`)
    t.match(body.message, message, `${name}: message`)
  }
  const notFound = await ctx.app.inject({ method: 'GET', url: '/nope' })
  t.equal(notFound.statusCode, 404)
  t.equal(notFound.json().code, 'ARBITER_ERR_NOT_FOUND')
  t.equal(await countRecords(ctx.db), 0, 'nothing was recorded for bad input')
})

t.test('deeply nested args are a 400, not a stack overflow', async (t) => {
  const ctx = await testApp(t)
  // 9,000 levels fit in the 64 KiB body limit; canonical hashing would recurse through them all.
  const deep = '{"job_id":"d","topic":"a.b","args":' + '{"a":'.repeat(9000) + '1' + '}'.repeat(9000) + '}'
  for (const url of ['/check', '/check/simulate']) {
    const res = await ctx.app.inject({ method: 'POST', url, payload: deep, headers: { 'content-type': 'application/json' } })
    t.equal(res.statusCode, 400, url)
    t.equal(res.json().code, 'ARBITER_ERR_VALIDATION')
    t.match(res.json().message, /nests deeper than 32/)
  }
  let ok: unknown = 1
  for (let i = 0; i < 30; i++) ok = { a: ok }
  t.equal((await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'd', topic: 'a.b', args: ok as Record<string, unknown> } })).statusCode, 200, '30 levels are fine')
})
