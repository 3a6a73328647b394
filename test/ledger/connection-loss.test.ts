/**
 * Connections killed mid-group: no decision reported to a caller is missing from the log, and
 * no decision whose caller was answered 503 is in it.
 */
import pg from 'pg'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { ChainVerifier } from '../../src/audit/chain.js'
import { readLog } from '../../src/store/log-read.js'
import { DATABASE_URL, ON_POSTGRES, testApp } from '../helpers.js'

t.test('killing connections while groups commit', { skip: !ON_POSTGRES && 'the embedded database has no connection to kill' }, async (t) => {
  // Keys unchecked: a killed key lookup would answer 503 AUTH_UNAVAILABLE, not the DENY this is about.
  const ctx = await testApp(t, { env: { CHECK_BUDGET_MS: '1500', ARBITER_AUTH: 'disabled' } })
  const killer = new pg.Client({ connectionString: DATABASE_URL })
  await killer.connect()
  t.teardown(async () => await killer.end())
  const state = { killing: true, kills: 0 }
  const loop = (async () => {
    while (state.killing) {
      // Only sessions in the middle of something: a group being written or committed.
      const { rows } = await killer.query(`select pg_terminate_backend(pid) as killed from pg_stat_activity
        where application_name = $1 and pid <> pg_backend_pid() and state in ('active', 'idle in transaction')`, [ctx.testDb.schema])
      state.kills += rows.filter((r: { killed: boolean }) => r.killed).length
      await sleep(15)
    }
  })()

  // A group is one short statement: to give the killer something to find, another session
  // holds the log's head for a moment during each wave, so that appends wait, active, behind it.
  const blocker = new pg.Client({ connectionString: DATABASE_URL })
  await blocker.connect()
  t.teardown(async () => await blocker.end())
  const answers: Array<{ trace: string, status: number, decisionId?: string }> = []
  for (let wave = 0; wave < 40 && (wave < 8 || state.kills < 3); wave++) {
    const hold = blocker.query(`begin; select 1 from ${ctx.testDb.schema as string}.audit_heads for update; select pg_sleep(0.03); commit`)
    const batch = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
      const trace = `w${wave}-${i}`
      const res = await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: trace, topic: 'job.mcp-bridge.read.x', trace_id: trace } })
      return { trace, status: res.statusCode, decisionId: res.statusCode === 200 ? res.json().decision_id as string : undefined }
    }))
    await hold
    answers.push(...batch)
  }
  state.killing = false
  await loop

  const ok = answers.filter((a) => a.status === 200)
  const refused = answers.filter((a) => a.status !== 200)
  t.ok(state.kills > 0, `${state.kills} connections killed`)
  t.ok(refused.every((a) => a.status === 503), 'every failure is a 503 DENY')
  t.comment(`${ok.length} recorded, ${refused.length} refused; writer ${JSON.stringify(ctx.app.auditWriter.stats)}`)

  const reader = new pg.Client({ connectionString: DATABASE_URL })
  await reader.connect()
  t.teardown(async () => await reader.end())
  const { rows } = await reader.query<{ trace_id: string, decision_id: string }>(`select trace_id, decision_id from ${ctx.testDb.schema as string}.audit_log where record_type = 'decision'`)
  const logged = new Map(rows.map((r) => [r.trace_id, r.decision_id]))
  t.same(ok.filter((a) => logged.get(a.trace) !== a.decisionId).map((a) => a.trace), [], 'every 200 answer is in the log, as answered')
  t.same(refused.filter((a) => logged.has(a.trace)).map((a) => a.trace), [], 'no 503 answer is in the log')
  t.equal(logged.size, ok.length)
  t.equal(ctx.app.auditWriter.stats.lateCommits, 0)

  const v = new ChainVerifier('default', undefined, new Map([[ctx.deps.key.id, ctx.deps.key.secret]]))
  for (const r of await readLog(ctx.db, 'default', 1, Number.MAX_SAFE_INTEGER, 100_000)) {
    const problem = v.next(r)
    if (problem !== null) t.fail(`seq ${problem.seq}: ${problem.problem}`)
  }
  t.equal(v.checked, ok.length, 'the chain is whole and gapless')
})
