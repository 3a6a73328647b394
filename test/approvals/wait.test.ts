/**
 * A scheduler waiting for reviewers: `GET /approvals/:job_id?wait_sec=N` over real HTTP, woken by
 * a vote on its own instance or on another one on the same database, at its timeout, at the
 * approval's TTL and at shutdown; one poll query a tick however many wait; nothing recorded.
 */
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { Database } from '../../src/store/db.js'
import { countRecords } from '../../src/store/log-read.js'
import { testDatabase } from '../helpers.js'
import { approvalApp, prodWrite, START, type ApprovalCtx } from '../fixtures/approvals.js'

/** Starts listening on a free loopback port; returns the base URL. */
async function listen (ctx: ApprovalCtx): Promise<string> {
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
}

interface Waited { status: number, headers: Headers, body: Record<string, any>, at: number, ms: number }

/** A GET over HTTP, timed: when its answer arrived (performance.now()) and how long it took. */
async function get (url: string, token: string, signal?: AbortSignal): Promise<Waited> {
  const started = performance.now()
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal })
  const body = await res.json() as Record<string, any>
  const at = performance.now()
  return { status: res.status, headers: res.headers, body, at, ms: at - started }
}

/** The database, counting the poller's statement and the approvals each one asks for. */
function counting (db: Database): { db: Database, polls: number[] } {
  const polls: number[] = []
  const counted = new Proxy(db, {
    get (target, prop) {
      if (prop === 'query') {
        return async (text: string, params?: unknown[], name?: string) => {
          if (name === 'arbiter_approval_statuses') polls.push((params?.[0] as unknown[]).length)
          return await target.query(text, params, name)
        }
      }
      const value = Reflect.get(target, prop, target) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  return { db: counted, polls }
}

t.test('a vote on this instance or on another one releases a waiting scheduler within a second', async (t) => {
  const clockAt = { ms: START }
  const one = await approvalApp(t, { clockAt })
  const two = await approvalApp(t, { clockAt, testDb: one.testDb, deps: { key: one.deps.key } })
  const base = await listen(one)
  for (const [job, voteOn] of [['here', one], ['there', two]] as const) {
    const asked = await one.check(prodWrite(job))
    const waiting = get(`${base}/approvals/${job}?wait_sec=30`, one.tokens.scheduler)
    await sleep(400)
    const vote = await voteOn.vote(job, 'approve', voteOn.tokens.alice, { job_hash: asked.job_hash })
    const voted = performance.now()
    t.equal(vote.statusCode, 200)
    const answer = await waiting
    const latency = answer.at - voted
    t.comment(`a vote on ${voteOn === one ? 'the same' : 'another'} instance woke the waiter ${latency.toFixed(0)} ms after the vote was answered`)
    t.equal(answer.status, 200)
    t.match(answer.body, { job_id: job, status: 'APPROVED', approvals_received: 1, votes: [{ principal_id: 'alice', vote: 'APPROVE' }] })
    t.ok(latency < 1000, `released within a second (${latency.toFixed(0)} ms)`)
  }
})

t.test('at its timeout a wait answers the approval as it is; waiting records nothing and changes nothing', async (t) => {
  const ctx = await approvalApp(t)
  const base = await listen(ctx)
  await ctx.check(prodWrite('slow'))
  const before = await ctx.call('GET', '/approvals/slow', ctx.tokens.alice)
  const records = await countRecords(ctx.db, undefined)
  const answer = await get(`${base}/approvals/slow?wait_sec=1`, ctx.tokens.scheduler)
  t.equal(answer.status, 200)
  t.ok(answer.ms >= 1000 && answer.ms < 2000, `answered after its wait_sec (${answer.ms.toFixed(0)} ms)`)
  t.same(answer.body, before.json(), 'the approval as it was: PENDING, no votes')
  t.equal(await countRecords(ctx.db, undefined), records, 'no record was written')
  t.equal(await ctx.verify(), records)

  const now = await get(`${base}/approvals/slow?wait_sec=0`, ctx.tokens.scheduler)
  t.ok(now.ms < 500, 'wait_sec=0 answers at once, as without it')
  t.same(now.body, before.json())
})

t.test('an approval that is decided, or whose clock ran out, is answered at once; one that runs out while waited on, at the next poll', async (t) => {
  const ctx = await approvalApp(t)
  const base = await listen(ctx)
  await ctx.check(prodWrite('done'))
  await ctx.vote('done', 'deny', ctx.tokens.alice, { note: 'no' })
  const decided = await get(`${base}/approvals/done?wait_sec=30`, ctx.tokens.scheduler)
  t.equal(decided.body.status, 'DENIED')
  t.ok(decided.ms < 500, 'a decided approval is not waited on')

  await ctx.check(prodWrite('ttl'))
  const waiting = get(`${base}/approvals/ttl?wait_sec=30`, ctx.tokens.scheduler)
  await sleep(300)
  ctx.clock.advance(3600)
  const ranOut = performance.now()
  const answer = await waiting
  t.ok(answer.at - ranOut < 1000, `released once the TTL passed (${(answer.at - ranOut).toFixed(0)} ms)`)
  // Until a sweep, check or vote records the expiry, the approval reads as GET shows it: PENDING, its expires_at passed.
  t.same(answer.body, (await ctx.call('GET', '/approvals/ttl', ctx.tokens.alice)).json(), 'answered as GET answers it')
  t.match(answer.body, { status: 'PENDING', expires_at: ctx.clock.now().toISOString() })
  const again = await get(`${base}/approvals/ttl?wait_sec=30`, ctx.tokens.scheduler)
  t.ok(again.ms < 500, 'a run-out approval is not waited on')
  t.equal(await countRecords(ctx.db, 'approval.expired'), 0, 'waiting records no expiry')
})

t.test('a scheduler that goes away frees its waiter: the poller stops', async (t) => {
  const testDb = await testDatabase(t)
  const { db, polls } = counting(testDb.db)
  const ctx = await approvalApp(t, { testDb, deps: { db } })
  const base = await listen(ctx)
  await ctx.check(prodWrite('gone'))
  const controller = new AbortController()
  const waiting = get(`${base}/approvals/gone?wait_sec=30`, ctx.tokens.scheduler, controller.signal)
  await sleep(700)
  t.ok(polls.length >= 1, `polled while it waited (${polls.length})`)
  controller.abort()
  await t.rejects(waiting, { name: 'AbortError' })
  await sleep(400)
  const after = polls.length
  await sleep(800)
  t.equal(polls.length, after, 'no poll once nobody waits')
  t.notOk(ctx.logLines.some((l) => /"level":(50|60)/.test(l)), 'nothing logged as an error')
  t.equal((await ctx.vote('gone', 'approve', ctx.tokens.alice)).statusCode, 200, 'and the approval is none the worse')
})

t.test('200 waiters on 10 approvals share one poll query a tick', async (t) => {
  const testDb = await testDatabase(t)
  const { db, polls } = counting(testDb.db)
  const clockAt = { ms: START }
  const one = await approvalApp(t, { clockAt, testDb, deps: { db } })
  const two = await approvalApp(t, { clockAt, testDb, deps: { key: one.deps.key } })
  const jobs = Array.from({ length: 10 }, (_, i) => `many-${i}`)
  for (const job of jobs) await one.check(prodWrite(job))
  const started = performance.now()
  const waits = Array.from({ length: 200 }, async (_, i) => await one.call('GET', `/approvals/${jobs[i % 10]}?wait_sec=2`, one.tokens.scheduler))
  await sleep(600)
  t.equal((await two.vote('many-0', 'approve', two.tokens.alice)).statusCode, 200, 'one approval is decided on the other instance')
  const answers = await Promise.all(waits)
  const elapsed = performance.now() - started
  t.ok(answers.every((a) => a.statusCode === 200))
  t.same(answers.filter((a) => a.json().status === 'APPROVED').length, 20, 'its 20 waiters saw it approved')
  t.same(answers.filter((a) => a.json().status === 'PENDING').length, 180, 'the others waited out their 2 s')
  t.comment(`${polls.length} poll queries in ${elapsed.toFixed(0)} ms for 200 waiters`)
  t.ok(polls.length >= 4 && polls.length <= Math.ceil(elapsed / 200) + 1, `one poll a tick (${polls.length} in ${elapsed.toFixed(0)} ms), not one per waiter`)
  t.ok(polls.every((n) => n <= 10), 'each asks for at most the 10 approvals waited on')
})

t.test('who may wait: schedulers for the agents their key speaks for, reviewers and auditors; wait_sec is 0–60 whole seconds', async (t) => {
  const ctx = await approvalApp(t)
  await ctx.check(prodWrite('who'))
  const read = async (url: string, token: string): Promise<{ statusCode: number, code?: string }> => {
    const res = await ctx.call('GET', url, token)
    return { statusCode: res.statusCode, code: res.json().code }
  }
  for (const token of [ctx.tokens.scheduler, ctx.tokens.alice, ctx.tokens.auditor]) t.equal((await read('/approvals/who?wait_sec=0', token)).statusCode, 200)
  const otherAgent = await ctx.token({ principal_id: 'sched-2', roles: ['scheduler'], tenants: ['*'], agents: ['agent:other'] })
  const otherTenant = await ctx.token({ principal_id: 'sched-3', roles: ['scheduler'], tenants: ['acme'] })
  const narrowReviewer = await ctx.token({ principal_id: 'dave', roles: ['reviewer'], tenants: ['*'], agents: ['agent:other'] })
  const started = performance.now()
  t.same(await read('/approvals/who?wait_sec=30', otherAgent), { statusCode: 404, code: 'ARBITER_ERR_NOT_FOUND' }, 'a job for an agent the key may not speak for looks like none')
  t.same(await read('/approvals/who?wait_sec=30', otherTenant), { statusCode: 404, code: 'ARBITER_ERR_NOT_FOUND' }, 'a tenant beyond the key looks like none')
  t.same(await read('/approvals/nothing?wait_sec=30', ctx.tokens.scheduler), { statusCode: 404, code: 'ARBITER_ERR_NOT_FOUND' })
  t.ok(performance.now() - started < 1000, 'and none of them waits')
  t.equal((await read('/approvals/who', narrowReviewer)).statusCode, 200, 'a reviewer reads every approval of its tenants, as before')
  for (const bad of ['61', '-1', '1.5', 'x', '', '1e1', '060']) {
    t.same(await read(`/approvals/who?wait_sec=${bad}`, ctx.tokens.scheduler), { statusCode: 400, code: 'ARBITER_ERR_VALIDATION' }, `wait_sec=${bad}`)
  }
})

t.test('closing the instance answers every waiter at once, with the approval as it is', async (t) => {
  const ctx = await approvalApp(t)
  const base = await listen(ctx)
  await ctx.check(prodWrite('closing'))
  const waits = Array.from({ length: 5 }, async () => await get(`${base}/approvals/closing?wait_sec=60`, ctx.tokens.scheduler))
  await sleep(400)
  const closing = performance.now()
  await ctx.app.close()
  const closed = performance.now() - closing
  const answers = await Promise.all(waits)
  t.ok(closed < 1000, `close() took ${closed.toFixed(0)} ms, not the wait's 60 s`)
  t.ok(answers.every((a) => a.status === 200 && a.body.status === 'PENDING' && a.at - closing < 1000), 'each waiter got the approval as it is')
  t.ok(answers.every((a) => a.headers.get('connection') === 'close'), 'on a connection that then closes, so the drain need not wait for it to idle out')
})
