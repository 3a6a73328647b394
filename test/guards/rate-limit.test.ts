import t from 'tap'
import { testApp } from '../helpers.js'
import { check, movableClock, POLICY } from '../fixtures/rate-limit.js'

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
