import { performance } from 'node:perf_hooks'
import t from 'tap'
import { signDecision, type SignedDecision } from '../../src/audit/decision-record.js'
import { jobHash, normalizeJob } from '../../src/policy/index.js'
import { DecisionWriter } from '../../src/store/decision-writer.js'
import { countDecisions } from '../../src/store/decisions.js'
import { migrate } from '../../src/store/migrate.js'
import { saveSnapshot } from '../../src/store/snapshots.js'
import { ON_POSTGRES, testApp, testDatabase } from '../helpers.js'

const key = { id: 'hk_test', secret: Buffer.alloc(32, 3) }
function record (i: number, snapshot = 'sha256:s'): SignedDecision {
  const job = normalizeJob({ job_id: `j${i}`, topic: 'a.b' })
  return signDecision({
    decision_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    trace_id: `t${i}`,
    checked_at: new Date(0).toISOString(),
    job,
    job_hash: jobHash(job),
    decision: 'ALLOW',
    reason: 'r',
    rule_id: null,
    matched_rules: [],
    policy_snapshot: snapshot
  }, key)
}

t.test('concurrent checks share groups and every answer is recorded once', async (t) => {
  const ctx = await testApp(t)
  const n = 300
  const answers = await Promise.all(Array.from({ length: n }, async (_, i) =>
    await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: `c${i}`, topic: 'job.mcp-bridge.read.x' } })))
  t.ok(answers.every((a) => a.statusCode === 200), 'all answered 200')
  t.equal(await countDecisions(ctx.db), n)
  const ids = new Set(answers.map((a) => a.json().decision_id))
  t.equal(ids.size, n)
  const { rows } = await ctx.db.query<{ n: number }>('select count(distinct decision_id)::int as n from decisions')
  t.equal(rows[0].n, n)
  const stats = ctx.app.decisionWriter.stats
  t.equal(stats.records, n)
  // The embedded database commits in-process, faster than injected requests arrive, so only a
  // server round trip gives requests time to queue up behind a commit.
  if (ON_POSTGRES) t.ok(stats.groups < n / 4, `${n} records in ${stats.groups} groups`)
  else t.comment(`${n} records in ${stats.groups} groups`)
})

t.test('a failing group fails every record in it and commits none', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  await saveSnapshot(db, { snapshotId: 'sha256:s', version: 'v1', canonical: '{}', sources: [] })
  const writer = new DecisionWriter(db)
  const deadline = performance.now() + 10000
  // One record names a snapshot that does not exist: the foreign key fails the whole group.
  const results = await Promise.allSettled([record(1), record(2), record(3, 'sha256:missing'), record(4)].map(async (r) => await writer.write(r, deadline)))
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected', 'rejected'], 'the first goes alone; the next three share a failed group')
  t.match((results[1] as PromiseRejectedResult).reason, { code: 'ARBITER_ERR_RECORD_UNAVAILABLE' })
  t.equal(await countDecisions(db), 1, 'only the record that was answered committed')
  t.equal(writer.stats.failedGroups, 1)
})

t.test('a full queue refuses at once instead of growing', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  await saveSnapshot(db, { snapshotId: 'sha256:s', version: 'v1', canonical: '{}', sources: [] })
  const writer = new DecisionWriter(db, { maxQueue: 2, maxBatch: 1 })
  const deadline = performance.now() + 10000
  const results = await Promise.allSettled([1, 2, 3, 4].map(async (i) => await writer.write(record(i), deadline)))
  const refused = results.filter((r) => r.status === 'rejected')
  t.ok(refused.length >= 1, `${refused.length} refused`)
  t.match((refused[0] as PromiseRejectedResult).reason, { code: 'ARBITER_ERR_RECORD_UNAVAILABLE', message: /queue is full/ })
  t.equal(await countDecisions(db), results.length - refused.length, 'everything accepted was committed')
})
