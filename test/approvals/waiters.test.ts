/**
 * The instance's waiters on their own, over a fake database that counts the poller's queries:
 * one query a tick however many wait, and every way a wait ends.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { ApprovalWaiters, awaitsDecision } from '../../src/approvals/waiters.js'
import type { ApprovalStatus } from '../../src/domain/approval-status.js'
import { ArbiterError } from '../../src/errors/index.js'
import type { Queryable } from '../../src/store/db.js'

const T0 = Date.UTC(2026, 10, 25, 12)
const LATER = new Date(T0 + 3_600_000).toISOString()

/** A database that knows approval statuses, and counts and records the poller's queries. */
function fakeDb (statuses: Map<string, ApprovalStatus>): Queryable & { asked: string[][], texts: Set<string>, fail: boolean } {
  const db = {
    asked: [] as string[][],
    texts: new Set<string>(),
    fail: false,
    query: async <R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> => {
      if (db.fail) throw new Error('connection lost')
      db.texts.add(text)
      const ids = params?.[0] as string[]
      db.asked.push([...ids])
      return { rows: ids.filter((id) => statuses.has(id)).map((id) => ({ approval_id: id, status: statuses.get(id) })) as R[] }
    },
    exec: async () => {}
  }
  return db
}

const pending = (id: string, expiresAt = LATER): { approval_id: string, status: 'PENDING', expires_at: string } => ({ approval_id: id, status: 'PENDING', expires_at: expiresAt })

t.test('many waiters on many approvals: one query a tick, none while nobody waits', async (t) => {
  const statuses = new Map<string, ApprovalStatus>(Array.from({ length: 20 }, (_, i) => [`a${i}`, 'PENDING']))
  const db = fakeDb(statuses)
  const waiters = new ApprovalWaiters({ db, clock: { now: () => new Date(T0) }, pollMs: 20 })
  t.teardown(() => { waiters.close() })
  await sleep(60)
  t.equal(db.asked.length, 0, 'no query while nobody waits')

  const waits = Array.from({ length: 500 }, async (_, i) => await waiters.wait(pending(`a${i % 20}`), 10_000))
  t.equal(waiters.size, 500)
  await sleep(110)
  const ticks = db.asked.length
  t.ok(ticks >= 2 && ticks <= 6, `${ticks} queries in ~110 ms for 500 waiters`)
  t.ok(db.asked.every((ids) => ids.length === 20), 'each asks for the 20 approvals waited on, once each')
  t.same([...db.texts], ['select approval_id, status from approvals where approval_id = any($1::uuid[])'], 'in one statement')

  statuses.set('a3', 'APPROVED')
  statuses.set('a7', 'DENIED')
  await sleep(60)
  t.equal(waiters.size, 450, 'the waiters of the two decided approvals are released at the next tick')
  waiters.moved('a5')
  t.equal(waiters.size, 425, 'a move on this instance releases at once')
  const ends = await Promise.all([waits[3], waits[7], waits[5]])
  t.same(ends, ['changed', 'changed', 'changed'])

  waiters.close()
  t.same(new Set(await Promise.all(waits)), new Set(['changed', 'closed']))
  t.equal(waiters.size, 0)
  t.equal(await waiters.wait(pending('a0'), 10_000), 'closed', 'a closed instance does not hold a new wait')
  const after = db.asked.length
  await sleep(60)
  t.equal(db.asked.length, after, 'and polls no more')
})

t.test('a wait ends at its timeout, when its signal aborts, and when the approval runs out by the clock', async (t) => {
  const db = fakeDb(new Map([['a', 'PENDING']]))
  const now = { ms: T0 }
  const waiters = new ApprovalWaiters({ db, clock: { now: () => new Date(now.ms) }, pollMs: 20 })
  t.teardown(() => { waiters.close() })

  const started = performance.now()
  t.equal(await waiters.wait(pending('a'), 100), 'timeout')
  t.ok(performance.now() - started >= 99, 'not before its time')

  const controller = new AbortController()
  const aborted = waiters.wait(pending('a'), 10_000, controller.signal)
  controller.abort()
  t.equal(await aborted, 'aborted')
  t.equal(waiters.size, 0, 'an aborted wait is let go')
  t.equal(await waiters.wait(pending('a'), 10_000, controller.signal), 'aborted', 'an already aborted signal does not wait')

  const runsOut = waiters.wait(pending('a', new Date(T0 + 1000).toISOString()), 10_000)
  await sleep(50)
  t.equal(waiters.size, 1, 'still waiting before its TTL')
  now.ms += 1000
  t.equal(await runsOut, 'changed', 'released once the clock reaches expires_at, though the row still says PENDING')

  t.notOk(awaitsDecision(pending('a', new Date(T0 + 1000).toISOString()), new Date(T0 + 1000)), 'a run-out approval is not waited on')
  t.ok(awaitsDecision(pending('a', new Date(T0 + 1001).toISOString()), new Date(T0 + 1000)))
  t.notOk(awaitsDecision({ approval_id: 'a', status: 'APPROVED', expires_at: LATER }, new Date(T0)), 'nor a decided one')
})

t.test('past the bound a wait is refused as busy; a failed poll keeps everyone waiting', async (t) => {
  const statuses = new Map<string, ApprovalStatus>([['a', 'PENDING']])
  const db = fakeDb(statuses)
  const errors: unknown[] = []
  const waiters = new ApprovalWaiters({ db, clock: { now: () => new Date(T0) }, pollMs: 20, maxWaiters: 2, onPollError: (err) => errors.push(err) })
  t.teardown(() => { waiters.close() })
  const one = waiters.wait(pending('a'), 10_000)
  const two = waiters.wait(pending('a'), 10_000)
  await t.rejects(waiters.wait(pending('a'), 10_000), new ArbiterError('ARBITER_ERR_BUSY', '2 requests already wait on approvals on this instance; ask again without wait_sec, later, or on another instance'))
  await t.rejects(waiters.wait(pending('a'), 10_000), { code: 'ARBITER_ERR_BUSY', statusCode: 429 })

  db.fail = true
  await sleep(70)
  t.ok(errors.length >= 2, 'each failed tick is reported')
  t.equal(waiters.size, 2, 'nobody is released by a failed poll')
  db.fail = false
  statuses.set('a', 'CANCELLED')
  t.same(await Promise.all([one, two]), ['changed', 'changed'], 'the next good poll releases them')
  t.equal(await waiters.wait(pending('gone'), 10_000), 'changed', 'an approval with no row is not waited on forever')
})
