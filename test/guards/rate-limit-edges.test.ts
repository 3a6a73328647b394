import t from 'tap'
import policySchema from '../../src/policy/policy.schema.json' with { type: 'json' }
import { countRecords } from '../../src/store/log-read.js'
import { MAX_WINDOW_SEC, pruneRateLimits } from '../../src/store/rate-limits.js'
import { holdTableLock, testApp } from '../helpers.js'
import { check, movableClock, POLICY } from '../fixtures/rate-limit.js'

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

t.test('a count that cannot be read within the budget is a 503 DENY, and nothing is recorded', async (t) => {
  const app = await testApp(t, { policies: { 'p.yaml': POLICY }, env: { CHECK_BUDGET_MS: '300', ARBITER_AUTH: 'disabled' } })
  const release = await holdTableLock(app.testDb, 'rate_limit_hits')
  const res = await app.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'stuck', topic: 'job.pager.page', labels: { team: 'sre' } } })
  await release()
  t.equal(res.statusCode, 503)
  t.same([res.json().code, res.json().decision], ['ARBITER_ERR_RECORD_UNAVAILABLE', 'DENY'])
  t.equal(await countRecords(app.db), 0, 'no decision recorded')
  const after = await check(app, { job_id: 'after', topic: 'job.pager.page', labels: { team: 'sre' } })
  t.same([after.status, after.body.decision], [200, 'ALLOW'], 'counting resumes once the table does')
})
