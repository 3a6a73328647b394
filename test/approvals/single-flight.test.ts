/**
 * Single-flight sessions: with `approval: {single_flight: session}`, a session's approvals reach
 * reviewers one at a time. The later ones wait QUEUED (not in the queue, no clock, no vote) and
 * the oldest takes its turn, once, whenever the one in front leaves PENDING, on any instance.
 */
import t from 'tap'
import { compilePolicy } from '../../src/policy/index.js'
import { countRecords, listJobRecords } from '../../src/store/log-read.js'
import { approvalApp, POLICY, prodWrite, START, type ApprovalCtx } from '../fixtures/approvals.js'

const SINGLE_FLIGHT = `${POLICY}
  - id: ops-one-at-a-time
    match: { topics: ["job.ops.*"] }
    decision: require_approval
    reason: Operations on production, one question at a time
    approval: { single_flight: session, ttl_sec: 600 }
`

/** An operation for agent:bot in session `session` (null: in none). */
function op (jobId: string, session: string | null = 's1', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { job_id: jobId, topic: 'job.ops.restart', principal_id: 'agent:bot', ...(session === null ? {} : { session_id: session }), args: { host: jobId }, ...extra }
}

async function app (t: Parameters<typeof approvalApp>[0], options: Parameters<typeof approvalApp>[1] = {}): Promise<ApprovalCtx> {
  return await approvalApp(t, { policies: { 'p.yaml': SINGLE_FLIGHT }, ...options })
}

async function status (ctx: ApprovalCtx, jobId: string): Promise<Record<string, any>> {
  const res = await ctx.call('GET', `/approvals/${jobId}`, ctx.tokens.alice)
  if (res.statusCode !== 200) throw new Error(res.body)
  return res.json()
}

async function queue (ctx: ApprovalCtx): Promise<string[]> {
  return (await ctx.call('GET', '/approvals', ctx.tokens.alice)).json().approvals.map((a: { job_id: string }) => a.job_id)
}

t.test('a session asks one question at a time; the next takes its turn, its clock starting then', async (t) => {
  const ctx = await app(t)
  const first = await ctx.check(op('op-1'))
  t.match(first, { decision: 'REQUIRE_APPROVAL', approval: { status: 'PENDING' } })
  t.notOk('queued_behind' in first.approval)

  const second = await ctx.check(op('op-2'))
  t.match(second, { decision: 'REQUIRE_APPROVAL', approval: { status: 'QUEUED', queued_behind: 'op-1', expires_at: null } })
  const third = await ctx.check(op('op-3'))
  t.match(third.approval, { status: 'QUEUED', queued_behind: 'op-1' }, 'each waits behind the job in front')

  // Other sessions, jobs without a session, and rules without single_flight are not in this line.
  t.match((await ctx.check(op('other-1', 's2'))).approval, { status: 'PENDING' })
  t.match((await ctx.check(op('alone', null))).approval, { status: 'PENDING' })
  t.match((await ctx.check(prodWrite('write-1', { session_id: 's1' }))).approval, { status: 'PENDING' })

  t.same(await queue(ctx), ['op-1', 'other-1', 'alone', 'write-1'], 'reviewers see only the one in front of each line')
  t.same((await ctx.call('GET', '/approvals?status=QUEUED', ctx.tokens.alice)).json().approvals.map((a: { job_id: string }) => a.job_id), ['op-2', 'op-3'], 'the queued ones are there to look at')
  t.match(await status(ctx, 'op-2'), { status: 'QUEUED', queued_behind: 'op-1', session_id: 's1', single_flight: true, expires_at: null })

  const early = await ctx.vote('op-2', 'approve', ctx.tokens.alice)
  t.equal(early.statusCode, 409, 'a queued approval takes no votes')
  t.match((await ctx.check(op('op-2'))).approval, { status: 'QUEUED', queued_behind: 'op-1' }, 'checked again, it still waits')
  t.equal(await countRecords(ctx.db, 'approval.queued'), 2)
  t.equal(await countRecords(ctx.db, 'approval.requested'), 4, 'no request for the queued ones yet')

  ctx.clock.advance(300)
  t.equal((await ctx.vote('op-1', 'approve', ctx.tokens.alice)).statusCode, 200)
  const turn = await status(ctx, 'op-2')
  t.equal(turn.status, 'PENDING', 'the next takes its turn when the one in front is approved')
  t.equal(turn.expires_at, new Date(START + 900_000).toISOString(), 'with its full 600 s from its turn, not from its check')
  t.match(await status(ctx, 'op-3'), { status: 'QUEUED', queued_behind: 'op-2' })
  t.same(await queue(ctx), ['op-2', 'other-1', 'alone', 'write-1'])

  const records = await listJobRecords(ctx.db, 'default', 'op-2', 100)
  const requested = records.find((r) => r.record_type === 'approval.requested')
  t.match(typeof requested?.record === 'string' ? JSON.parse(requested.record) : requested?.record, { actor: { system: 'arbiter-single-flight' }, body: { approval_state: 'PENDING', after_job: 'op-1', queued_at: new Date(START).toISOString() } })

  // op-1 approved goes on to run: that does not move the line again.
  t.match(await ctx.check(op('op-1')), { decision: 'ALLOW' })
  t.match(await status(ctx, 'op-3'), { status: 'QUEUED' })

  // A deny, then the clock: each end lets the next one through.
  t.equal((await ctx.vote('op-2', 'deny', ctx.tokens.bob, { note: 'not now' })).statusCode, 200)
  t.match(await status(ctx, 'op-3'), { status: 'PENDING' })
  ctx.clock.advance(601)
  t.equal(await ctx.app.approvals.sweep(1000) >= 1, true)
  t.match(await status(ctx, 'op-3'), { status: 'EXPIRED' })
  t.match(await ctx.check(op('op-2')), { decision: 'DENY', reason: /approval denied: not now/ })
  t.equal(await ctx.verify(), await countAll(ctx), 'the chain verifies')
})

t.test('a job that changes goes to the back; a policy that now denies takes a queued one out of line', async (t) => {
  const ctx = await app(t)
  await ctx.check(op('a'))
  await ctx.check(op('b'))
  await ctx.check(op('c'))
  const changed = await ctx.check(op('a', 's1', { args: { host: 'other' } }))
  t.match(changed.approval, { status: 'QUEUED', queued_behind: 'b' }, "a's old approval is superseded and b takes its turn")
  t.match(await status(ctx, 'b'), { status: 'PENDING' })
  t.match(await status(ctx, 'c'), { status: 'QUEUED', queued_behind: 'b' })

  const denied = await ctx.check(op('c', 's1', { risk_tags: ['destructive'] }))
  t.equal(denied.decision, 'DENY')
  t.match(await status(ctx, 'c'), { status: 'QUEUED' }, 'other content: the queued approval is left for the content it was asked for')
  t.equal((await ctx.call('POST', '/approvals/b/cancel', ctx.tokens.scheduler, {})).statusCode, 200)
  t.match(await status(ctx, 'c'), { status: 'PENDING' }, 'a cancel of the one in front lets the next through')
  t.match(await status(ctx, 'a'), { status: 'QUEUED', queued_behind: 'c' })
  t.equal(await ctx.verify(), await countAll(ctx))
})

t.test("a session's cancel ends its line without letting anyone through", async (t) => {
  const ctx = await app(t)
  for (const id of ['x', 'y', 'z']) await ctx.check(op(id))
  await ctx.check(op('elsewhere', 's2'))
  const other = await ctx.token({ principal_id: 'sched-2', roles: ['scheduler'], tenants: ['other'] })
  t.equal((await ctx.call('POST', '/sessions/s1/cancel', other, {})).statusCode, 404, "another tenant's key finds nothing there")
  t.equal((await ctx.call('POST', '/sessions/s1/cancel', ctx.tokens.alice, {})).statusCode, 403, 'a reviewer may not')
  t.equal((await ctx.call('POST', '/sessions/s1/cancel', ctx.tokens.scheduler, { reason: 1 })).statusCode, 400)

  const res = await ctx.call('POST', '/sessions/s1/cancel', ctx.tokens.scheduler, { reason: 'agent stopped' })
  t.equal(res.statusCode, 200, res.body)
  t.same(res.json().cancelled.map((a: { status: string }) => a.status), ['CANCELLED', 'CANCELLED', 'CANCELLED'])
  for (const id of ['x', 'y', 'z']) t.match(await status(ctx, id), { status: 'CANCELLED' })
  t.equal(await countRecords(ctx.db, 'approval.requested'), 2, 'nobody took a turn on the way out')
  t.match(await status(ctx, 'elsewhere'), { status: 'PENDING' }, 'another session is untouched')
  t.same((await ctx.call('POST', '/sessions/s1/cancel', ctx.tokens.scheduler, {})).json().cancelled, [], 'a second cancel finds nothing')
  t.match(await ctx.check(op('y')), { decision: 'DENY', reason: /approval cancelled: agent stopped/ })
  t.equal(await ctx.verify(), await countAll(ctx))
})

t.test('a scheduler waiting on a queued job hears of its turn, then of its decision', async (t) => {
  const ctx = await app(t)
  await ctx.check(op('front'))
  await ctx.check(op('back'))
  const waiting = ctx.call('GET', '/approvals/back?wait_sec=20', ctx.tokens.scheduler)
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal((await ctx.vote('front', 'approve', ctx.tokens.alice)).statusCode, 200)
  const turn = await waiting
  t.match(turn.json(), { status: 'PENDING', job_id: 'back' }, 'the wait ends at its turn')
})

t.test('across two instances, a line has one in front and moves once', async (t) => {
  const clockAt = { ms: START }
  const one = await app(t, { clockAt })
  const two = await app(t, { clockAt, testDb: one.testDb, deps: { key: one.deps.key } })
  const answers = await Promise.all(Array.from({ length: 16 }, async (_, i) => await (i % 2 === 0 ? one : two).check(op(`j${i}`))))
  const pending = answers.flatMap((a, i) => a.approval.status === 'PENDING' ? [`j${i}`] : [])
  t.equal(pending.length, 1, 'one in front')
  const front = pending[0]
  t.ok(answers.every((a) => a.approval.status === 'PENDING' || a.approval.queued_behind === front), 'the rest behind it')

  // The one in front ends twice over at once (a vote on one instance, a cancel on the other): one turn is given.
  const [vote, cancel] = await Promise.all([
    one.vote(front, 'deny', one.tokens.alice, { note: 'no' }),
    two.call('POST', `/approvals/${front}/cancel`, two.tokens.scheduler, {})
  ])
  t.equal([vote.statusCode, cancel.statusCode].filter((s) => s === 200).length, 1, 'one of them ends it')
  const all = (await one.call('GET', '/approvals?include_resolved=true&limit=100', one.tokens.alice)).json().approvals
  t.equal(all.filter((a: { status: string }) => a.status === 'PENDING').length, 1, 'exactly one took its turn')
  t.equal(all.filter((a: { status: string }) => a.status === 'QUEUED').length, 14)
  t.equal(await countRecords(one.db, 'approval.requested'), 2)
  t.equal(await one.verify(), await countAll(one))
})

t.test('single_flight is checked like the rest of the policy', async (t) => {
  const bad = compilePolicy([{ file: 'p.yaml', text: SINGLE_FLIGHT.replace('single_flight: session', 'single_flight: job') }])
  t.equal(bad.ok, false)
  const good = compilePolicy([{ file: 'p.yaml', text: SINGLE_FLIGHT }])
  t.equal(good.ok, true)
})

async function countAll (ctx: ApprovalCtx): Promise<number> {
  const { rows } = await ctx.db.query<{ n: number }>("select count(*)::int as n from audit_log where tenant_id = 'default'")
  return rows[0].n
}
