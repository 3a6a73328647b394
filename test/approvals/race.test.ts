import t from 'tap'
import { countRecords, readLog } from '../../src/store/log-read.js'
import { approvalApp, deploy, prodWrite, START } from '../fixtures/approvals.js'

t.test('50 concurrent approve/deny calls on one approval, over two instances on one database: one resolution', async (t) => {
  const clockAt = { ms: START }
  const one = await approvalApp(t, { clockAt })
  const two = await approvalApp(t, { clockAt, testDb: one.testDb, deps: { key: one.deps.key } })
  const reviewers = await Promise.all(Array.from({ length: 50 }, async (_, i) => await one.token({ principal_id: `r${i}`, roles: ['reviewer'], tenants: ['*'] })))
  const asked = await one.check(deploy('race-1'))
  t.equal(asked.approval.approvals_required, 2)

  const answers = await Promise.all(reviewers.map(async (token, i) => {
    const app = i % 2 === 0 ? one : two
    return i % 3 === 0
      ? await app.vote('race-1', 'deny', token, { note: `no from r${i}` })
      : await app.vote('race-1', 'approve', token, { job_hash: asked.job_hash })
  }))
  const accepted = answers.filter((a) => a.statusCode === 200)
  const refused = answers.filter((a) => a.statusCode !== 200)
  t.ok(refused.every((a) => a.statusCode === 409 && a.json().code === 'ARBITER_ERR_APPROVAL_CLOSED'), 'every other vote found it closed')

  const final = (await one.call('GET', '/approvals/race-1', one.tokens.alice)).json()
  t.ok(['APPROVED', 'DENIED'].includes(final.status), `resolved ${String(final.status)}`)
  t.equal(final.votes.length, accepted.length, 'every accepted vote is counted, and only those')
  const approves = final.votes.filter((v: { vote: string }) => v.vote === 'APPROVE').length
  const denies = final.votes.length - approves
  if (final.status === 'APPROVED') t.same([approves, denies], [2, 0], 'approved by exactly two')
  // The clock is frozen, so the votes share one time and are listed by principal: which came
  // last is not in the list. What counts: one deny ended it before a second approval.
  else t.same([denies, approves < 2], [1, true], 'ended by exactly one deny, before a second approval')
  t.equal(await countRecords(one.db, 'approval.resolved'), 1, 'one resolution in the log')
  t.equal(await countRecords(one.db, 'approval.vote'), accepted.length)
  t.equal(await one.verify(), 2 + accepted.length + 1, 'and the chain verifies')
})

t.test('the same new job checked concurrently on two instances gets one approval', async (t) => {
  const clockAt = { ms: START }
  const one = await approvalApp(t, { clockAt })
  const two = await approvalApp(t, { clockAt, testDb: one.testDb, deps: { key: one.deps.key } })
  const answers = await Promise.all(Array.from({ length: 20 }, async (_, i) => await (i % 2 === 0 ? one : two).check(prodWrite('same'))))
  t.equal(new Set(answers.map((a) => a.approval.approval_id)).size, 1)
  t.equal(await countRecords(one.db, 'approval.requested'), 1)
  t.equal(await one.verify(), 21)
})

t.test('a burst of checks asking for approval, new jobs and the same ones again, opens one each; a job\'s story tells of it before any decision on it', async (t) => {
  const clockAt = { ms: START }
  const one = await approvalApp(t, { clockAt })
  const two = await approvalApp(t, { clockAt, testDb: one.testDb, deps: { key: one.deps.key } })
  // Forty checks of ten new jobs, each asked four times, two of them in one single-flight session.
  const jobs = Array.from({ length: 10 }, (_, i) => `burst-${i}`)
  const answers = await Promise.all(Array.from({ length: 40 }, async (_, i) => {
    const job = jobs[i % 10]
    return await (i % 2 === 0 ? one : two).check(prodWrite(job, i % 10 < 2 ? { session_id: 'sess-burst' } : {}))
  }))
  t.ok(answers.every((a) => a.decision === 'REQUIRE_APPROVAL'), 'every check waits for approval')
  const approvalOf = new Map<string, string>()
  jobs.forEach((job, j) => {
    const ids = new Set(answers.filter((_, i) => i % 10 === j).map((a) => a.approval.approval_id as string))
    t.equal(ids.size, 1, `${job}: one approval for its four checks`)
    approvalOf.set(job, [...ids][0])
  })
  t.equal(await countRecords(one.db, 'approval.requested'), 10)
  const records = await readLog(one.db, 'default', 1, Number.MAX_SAFE_INTEGER, 1000)
  t.equal(records.length, 50)
  for (const job of jobs) {
    const story = records.filter((r) => r.job_id === job)
    const requested = story.findIndex((r) => r.record_type === 'approval.requested')
    const first = story.findIndex((r) => r.record.includes(approvalOf.get(job) as string))
    t.equal(first, requested, `${job}: its approval.requested is the first record that names its approval`)
  }
  t.equal(await one.verify(), 50)
})

t.test('votes, checks, a cancel and the sweeper racing the expiry: it ends once', async (t) => {
  const clockAt = { ms: START }
  const one = await approvalApp(t, { clockAt })
  const two = await approvalApp(t, { clockAt, testDb: one.testDb, deps: { key: one.deps.key } })
  await one.check(prodWrite('late'))
  one.clock.advance(3600)
  const calls = await Promise.all([
    one.vote('late', 'approve', one.tokens.alice),
    two.vote('late', 'approve', two.tokens.bob),
    one.check(prodWrite('late')),
    two.check(prodWrite('late')),
    one.call('POST', '/approvals/late/cancel', one.tokens.scheduler, {}),
    two.app.approvals.sweep(1000),
    one.vote('late', 'deny', one.tokens.carol, { note: 'too late' })
  ])
  const [v1, v2, c1, c2, cancel, , v3] = calls
  for (const v of [v1, v2, v3, cancel]) t.equal((v as { statusCode: number }).statusCode, 409)
  for (const c of [c1, c2]) t.match(c, { decision: 'DENY', reason: 'approval expired' })
  t.equal(await countRecords(one.db, 'approval.expired'), 1, 'exactly one expiry')
  t.equal(await countRecords(one.db, 'approval.vote'), 0)
  t.equal(typeof await one.verify(), 'number')
})
