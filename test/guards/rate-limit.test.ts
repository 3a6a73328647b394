import t from 'tap'
import type { Clock } from '../../src/clock.js'
import policySchema from '../../src/policy/policy.schema.json' with { type: 'json' }
import { MAX_WINDOW_SEC, pruneRateLimits } from '../../src/store/rate-limits.js'
import { testApp, type TestApp } from '../helpers.js'

const POLICY = `version: v1
rules:
  - id: allow-sends
    match: { topics: ["job.mail.send"] }
    decision: allow
  - id: sends-per-tenant
    match: { topics: ["job.mail.send"] }
    decision: throttle
    reason: "at most 5 mails a minute per tenant"
    rate_limit: { max: 5, window_sec: 60, key: [tenant_id, topic] }
  - id: allow-pages
    match: { topics: ["job.pager.page"] }
    decision: allow
  - id: pages-per-team
    match: { topics: ["job.pager.page"] }
    decision: throttle
    rate_limit: { max: 2, window_sec: 10, key: [labels.team] }
  - id: allow-admin
    match: { topics: ["job.admin.*"] }
    decision: allow
  - id: always-throttle-admin
    match: { topics: ["job.admin.bulk"] }
    decision: throttle
    retry_after_sec: 30
  - id: deny-destructive
    match: { risk_tags: [destructive] }
    decision: deny
`

/** A clock the test moves by hand, shared by every instance. */
function movableClock (): Clock & { advance: (ms: number) => void } {
  let ms = Date.parse('2026-11-26T00:00:00.000Z')
  return { now: () => new Date(ms), advance: (by) => { ms += by } }
}

async function check (app: TestApp, body: Record<string, unknown>): Promise<{ status: number, body: Record<string, any>, retryAfter?: string }> {
  const res = await app.app.inject({ method: 'POST', url: '/check', payload: body })
  return { status: res.statusCode, body: res.json(), retryAfter: res.headers['retry-after'] as string | undefined }
}

t.test('two instances on one database admit exactly max jobs of one key between them', async (t) => {
  const clock = movableClock()
  const one = await testApp(t, { policies: { 'p.yaml': POLICY }, deps: { clock } })
  const two = await testApp(t, { policies: { 'p.yaml': POLICY }, testDb: one.testDb, deps: { key: one.deps.key, clock } })
  const answers = await Promise.all(Array.from({ length: 40 }, async (_, i) =>
    await check(i % 2 === 0 ? one : two, { job_id: `mail-${i}`, topic: 'job.mail.send', tenant_id: 'acme' })))
  t.ok(answers.every((a) => a.status === 200), 'every check answered')
  const allowed = answers.filter((a) => a.body.decision === 'ALLOW')
  const throttled = answers.filter((a) => a.body.decision === 'THROTTLE')
  t.equal(allowed.length, 5, 'exactly max admitted')
  t.equal(throttled.length, 35)
  for (const a of throttled) {
    t.equal(a.body.rule_id, 'sends-per-tenant')
    t.equal(a.body.retry_after_ms, 60_000, 'the window frees its first slot a minute after it was taken (the clock stands still)')
    t.equal(a.retryAfter, '60')
  }
  // Another tenant's key has its own budget.
  t.equal((await check(two, { job_id: 'other-1', topic: 'job.mail.send', tenant_id: 'globex' })).body.decision, 'ALLOW')
})

t.test('the window slides: a slot frees when its oldest admission leaves it, and the wait says when', async (t) => {
  const clock = movableClock()
  const app = await testApp(t, { policies: { 'p.yaml': POLICY }, deps: { clock } })
  const page = async (id: string, team = 'sre'): Promise<Record<string, any>> => (await check(app, { job_id: id, topic: 'job.pager.page', labels: { team } })).body
  t.equal((await page('p1')).decision, 'ALLOW')
  clock.advance(4000)
  t.equal((await page('p2')).decision, 'ALLOW')
  clock.advance(1000)
  const third = await page('p3')
  t.equal(third.decision, 'THROTTLE')
  t.equal(third.retry_after_ms, 5000, 'p1 leaves the 10 s window 5 s from now')
  t.equal((await page('p3', 'dba')).decision, 'ALLOW', 'a label is a key of its own')
  clock.advance(4999)
  t.equal((await page('p3')).retry_after_ms, 1, 'one millisecond short')
  clock.advance(1)
  t.equal((await page('p3')).decision, 'ALLOW', 'p1 has left the window')
  clock.advance(1)
  const fourth = await page('p4')
  t.equal(fourth.decision, 'THROTTLE')
  t.equal(fourth.retry_after_ms, 3999, 'now p2 (taken at +4 s) is the oldest in the window')
})

t.test('a job counted once is not counted again when it is checked again', async (t) => {
  const clock = movableClock()
  const app = await testApp(t, { policies: { 'p.yaml': POLICY }, deps: { clock } })
  const page = async (id: string): Promise<string> => (await check(app, { job_id: id, topic: 'job.pager.page', labels: { team: 'sre' } })).body.decision
  t.equal(await page('a'), 'ALLOW')
  t.equal(await page('a'), 'ALLOW', 'the same job again')
  t.equal(await page('a'), 'ALLOW')
  t.equal(await page('b'), 'ALLOW', 'the second slot is still free')
  t.equal(await page('c'), 'THROTTLE')
  t.equal(await page('a'), 'ALLOW', 'a counted job is still admitted when the key is full')
  const { rows } = await app.db.query<{ n: number }>("select count(*)::int as n from rate_limit_hits where rule_id = 'pages-per-team'")
  t.equal(rows[0].n, 2, 'two rows: a and b, once each')
})

t.test('a job id reused for other content is another job', async (t) => {
  const clock = movableClock()
  const app = await testApp(t, { policies: { 'p.yaml': POLICY }, deps: { clock } })
  const page = async (id: string, args: Record<string, unknown>): Promise<string> => (await check(app, { job_id: id, topic: 'job.pager.page', labels: { team: 'sre' }, args })).body.decision
  t.equal(await page('a', { n: 1 }), 'ALLOW')
  t.equal(await page('a', { n: 2 }), 'ALLOW', 'counted: the second slot')
  for (let n = 3; n < 8; n++) t.equal(await page('a', { n }), 'THROTTLE', `content ${n} under the same id is throttled`)
  t.equal(await page('a', { n: 1 }), 'ALLOW', 'the first content itself is still admitted')
})

t.test('a job throttled by another rule is not counted', async (t) => {
  const clock = movableClock()
  const policy = POLICY + `  - id: pager-maintenance
    match: { topics: ["job.pager.page"], labels: { mode: maintenance } }
    decision: throttle
    retry_after_sec: 30
`
  const app = await testApp(t, { policies: { 'p.yaml': policy }, deps: { clock } })
  for (let i = 0; i < 5; i++) {
    const res = await check(app, { job_id: `m${i}`, topic: 'job.pager.page', labels: { team: 'sre', mode: 'maintenance' } })
    t.same([res.body.decision, res.body.rule_id], ['THROTTLE', 'pager-maintenance'])
  }
  const { rows } = await app.db.query<{ n: number }>('select count(*)::int as n from rate_limit_hits')
  t.equal(rows[0].n, 0, 'nothing counted')
  t.equal((await check(app, { job_id: 'real', topic: 'job.pager.page', labels: { team: 'sre' } })).body.decision, 'ALLOW', 'the budget is untouched')
})

t.test('one job under two limits is counted under both or neither', async (t) => {
  const clock = movableClock()
  const policy = POLICY + `  - id: pages-per-principal
    match: { topics: ["job.pager.page"] }
    decision: throttle
    rate_limit: { max: 1, window_sec: 10, key: [principal_id] }
`
  const app = await testApp(t, { policies: { 'p.yaml': policy }, deps: { clock } })
  const page = async (id: string, team: string, who: string): Promise<Record<string, any>> => (await check(app, { job_id: id, topic: 'job.pager.page', labels: { team }, principal_id: who })).body
  t.equal((await page('x1', 'sre', 'agent:a')).decision, 'ALLOW')
  const second = await page('x2', 'sre', 'agent:a')
  t.same([second.decision, second.rule_id], ['THROTTLE', 'pages-per-principal'])
  const { rows } = await app.db.query<{ rule_id: string, n: number }>('select rule_id, count(*)::int as n from rate_limit_hits group by rule_id order by rule_id')
  t.same(rows, [{ rule_id: 'pages-per-principal', n: 1 }, { rule_id: 'pages-per-team', n: 1 }], 'x2 took no slot of the team key either')
  t.equal((await page('x3', 'sre', 'agent:b')).decision, 'ALLOW', 'the team key still has its second slot')
})

t.test('simulate never consumes budget, and shows what would be counted', async (t) => {
  const clock = movableClock()
  const app = await testApp(t, { policies: { 'p.yaml': POLICY }, deps: { clock } })
  for (let i = 0; i < 5; i++) {
    const res = await app.app.inject({ method: 'POST', url: '/check/simulate', payload: { job_id: `s${i}`, topic: 'job.pager.page', labels: { team: 'sre' } } })
    t.equal(res.json().decision, 'ALLOW')
    t.same(res.json().rate_limits, [{ rule_id: 'pages-per-team', key: '["sre"]', max: 2, window_sec: 10 }])
  }
  const { rows } = await app.db.query<{ n: number }>('select count(*)::int as n from rate_limit_hits')
  t.equal(rows[0].n, 0)
  t.equal((await check(app, { job_id: 'real-1', topic: 'job.pager.page', labels: { team: 'sre' } })).body.decision, 'ALLOW')
})

t.test('a throttle rule without a rate limit always throttles, with its own wait', async (t) => {
  const app = await testApp(t, { policies: { 'p.yaml': POLICY } })
  const res = await check(app, { job_id: 'bulk-1', topic: 'job.admin.bulk' })
  t.equal(res.body.decision, 'THROTTLE')
  t.equal(res.body.rule_id, 'always-throttle-admin')
  t.equal(res.body.retry_after_ms, 30_000)
  t.equal(res.retryAfter, '30')
  t.equal((await check(app, { job_id: 'other', topic: 'job.admin.other' })).retryAfter, undefined, 'no Retry-After on an ALLOW')
})

t.test('a denied job is not counted, and DENY outranks THROTTLE', async (t) => {
  const clock = movableClock()
  const app = await testApp(t, { policies: { 'p.yaml': POLICY }, deps: { clock } })
  for (let i = 0; i < 3; i++) t.equal((await check(app, { job_id: `d${i}`, topic: 'job.pager.page', labels: { team: 'sre' }, risk_tags: ['destructive'] })).body.decision, 'DENY')
  t.equal((await check(app, { job_id: 'ok1', topic: 'job.pager.page', labels: { team: 'sre' } })).body.decision, 'ALLOW')
  t.equal((await check(app, { job_id: 'ok2', topic: 'job.pager.page', labels: { team: 'sre' } })).body.decision, 'ALLOW')
  t.equal((await check(app, { job_id: 'd9', topic: 'job.pager.page', labels: { team: 'sre' }, risk_tags: ['destructive'] })).body.decision, 'DENY', 'a full key does not soften a denial')
})

t.test('a THROTTLE is recorded like any decision, with its wait', async (t) => {
  const clock = movableClock()
  const app = await testApp(t, { policies: { 'p.yaml': POLICY }, deps: { clock } })
  await check(app, { job_id: 'r1', topic: 'job.pager.page', labels: { team: 'x' } })
  await check(app, { job_id: 'r2', topic: 'job.pager.page', labels: { team: 'x' } })
  const throttled = await check(app, { job_id: 'r3', topic: 'job.pager.page', labels: { team: 'x' }, trace_id: 'trace-throttle' })
  const trace = (await app.app.inject({ method: 'GET', url: '/traces/trace-throttle' })).json()
  t.equal(trace.entries.length, 1)
  t.equal(trace.entries[0].decision, 'THROTTLE')
  const { rows } = await app.db.query<{ record: string }>("select record from audit_log where trace_id = 'trace-throttle'")
  const body = JSON.parse(rows[0].record).body
  t.equal(body.retry_after_ms, throttled.body.retry_after_ms)
  t.equal(body.rule_id, 'pages-per-team')
})

t.test('admissions older than any window are pruned, fresher ones kept', async (t) => {
  const clock = movableClock()
  const app = await testApp(t, { policies: { 'p.yaml': POLICY }, deps: { clock } })
  await check(app, { job_id: 'old', topic: 'job.pager.page', labels: { team: 'gone' } })
  clock.advance(MAX_WINDOW_SEC * 1000)
  await check(app, { job_id: 'new', topic: 'job.pager.page', labels: { team: 'busy' } })
  t.equal(await pruneRateLimits(app.db, clock.now()), 1, 'the row of a key never used again')
  const { rows } = await app.db.query<{ job_id: string }>('select job_id from rate_limit_hits')
  t.same(rows.map((r) => r.job_id), ['new'])
  t.equal(policySchema.definitions.rate_limit.properties.window_sec.maximum, MAX_WINDOW_SEC, 'no window outlives the pruning')
})
