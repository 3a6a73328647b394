/**
 * A decision that commits after its caller was answered 503 (an unrecorded DENY) is followed in
 * its log by a `decision.voided`, so the log never shows an ALLOW nobody was given, and the job
 * stands as the DENY its caller got.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { ParsedRecord } from '../../src/audit/chain.js'
import { voidedEntries, WRITER_ACTOR } from '../../src/decisions/voided.js'
import type { Database } from '../../src/store/db.js'
import { testApp, testDatabase, verifyLog } from '../helpers.js'
import { until } from '../support/process.js'

const BUDGET_MS = 300

/** The database, whose answers to sessions and transactions arrive `lagMs` late while it is set: the work is done, the caller hears of it too late. */
function lateAnswers (db: Database): { db: Database, lag: (ms: number) => void } {
  let lagMs = 0
  const late = async <T>(answer: Promise<T>): Promise<T> => {
    const lag = lagMs
    const result = await answer
    if (lag > 0) await sleep(lag)
    return result
  }
  return {
    lag: (ms) => { lagMs = ms },
    db: { ...db, query: db.query, exec: db.exec, session: async (fn) => await late(db.session(fn)), transaction: async (fn, o) => await late(db.transaction(fn, o)), close: db.close }
  }
}

t.test('a decision committed after its 503 is voided in the log, and the job stands as denied', async (t) => {
  const { db: real } = await testDatabase(t)
  const { db, lag } = lateAnswers(real)
  const ctx = await testApp(t, { env: { CHECK_BUDGET_MS: String(BUDGET_MS), ARBITER_AUTH: 'disabled' }, deps: { db } })
  lag(BUDGET_MS * 2)
  const answered = await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'late-1', topic: 'job.mcp-bridge.read.x' } })
  t.equal(answered.statusCode, 503, 'the caller is told DENY: not recorded')
  t.match(answered.json(), { decision: 'DENY', code: 'ARBITER_ERR_RECORD_UNAVAILABLE' })
  lag(0)

  const records = await until('the decision.voided record', async () => {
    const { rows } = await real.query<{ record: string }>("select record from audit_log where tenant_id = 'default' order by seq")
    const parsed = rows.map((r) => JSON.parse(r.record) as ParsedRecord)
    return parsed.some((r) => r.type === 'decision.voided') ? parsed : undefined
  }, 10_000)
  t.same(records.map((r) => r.type), ['decision', 'decision.voided'], 'the ALLOW committed after all, and is voided right after')
  const [decision, voided] = records
  t.equal(decision.body.decision, 'ALLOW')
  t.match(voided, { trace_id: decision.trace_id, job_id: 'late-1', actor: WRITER_ACTOR, body: { decision_id: decision.body.decision_id, voided_seq: 1, voided_decision: 'ALLOW', told: 'DENY' } })
  t.equal(ctx.app.auditWriter.stats.lateCommits, 1)

  const story = (await ctx.app.inject({ url: '/jobs/late-1' })).json()
  t.match(story.decision, { decision_id: decision.body.decision_id, decision: 'DENY', reason: /answered 503/ }, 'the job stands as the DENY it was answered')
  const ran = await ctx.app.inject({ method: 'POST', url: '/jobs/late-1/events', payload: { status: 'DISPATCHED' } })
  t.equal(ran.statusCode, 409, 'so running it is a violation')
  t.match(ran.json().violation, { kind: 'ran_without_allow', decision: 'DENY' })
  t.equal(await verifyLog(real, 'default', new Map([[ctx.deps.key.id, ctx.deps.key.secret]])), 3)
})

t.test('only decisions are voided: other late records are not answers anyone acted on', async (t) => {
  const at = new Date('2026-12-01T00:00:00Z')
  const sealed = (type: 'decision' | 'job.event', seq: number): any => ({ seq, entry: { type, tenant_id: 'acme', trace_id: 'tr', job_id: 'j', at: at.toISOString(), actor: null, body: { decision_id: `d${seq}`, decision: 'ALLOW' } } })
  const entries = voidedEntries([sealed('decision', 4), sealed('job.event', 5), sealed('decision', 6)], at)
  t.same(entries.map((e) => [e.type, e.tenant_id, e.body.voided_seq, e.body.decision_id]), [['decision.voided', 'acme', 4, 'd4'], ['decision.voided', 'acme', 6, 'd6']])
})
