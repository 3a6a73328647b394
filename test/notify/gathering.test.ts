/**
 * The dispatcher is woken by every transaction that adds events. Under load that is one wake-up
 * per approval asked for; wake-ups within GATHER_MS of a pass's start are answered by one pass
 * GATHER_MS after it, so a burst costs a pass per GATHER_MS, not one per event, while a lone event
 * after a quiet spell is looked at at once.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import pino from 'pino'
import { GATHER_MS, NotificationDispatcher } from '../../src/notify/dispatcher.js'
import type { Database } from '../../src/store/db.js'
import { testDatabase } from '../helpers.js'

/** `db` whose transactions (one per pass's routing) are timed as they start. */
function countingPasses (db: Database): { db: Database, starts: number[] } {
  const starts: number[] = []
  const counted: Database = Object.create(db) as Database
  Object.defineProperty(counted, 'transaction', {
    value: async (...args: Parameters<Database['transaction']>) => {
      starts.push(performance.now())
      return await db.transaction(...args)
    }
  })
  return { db: counted, starts }
}

const config = { global: undefined, tenants: new Map(), consoleBaseUrl: undefined, retryMaxSec: 60, backoffMs: 50, timeoutMs: 1000 }

t.test('a burst of wake-ups makes a pass per GATHER_MS; a lone one is answered at once', async (t) => {
  const { db: raw } = await testDatabase(t)
  const { db, starts } = countingPasses(raw)
  const dispatcher = new NotificationDispatcher({ db, config, log: pino({ level: 'silent' }) })
  t.teardown(async () => { await dispatcher.close() })
  dispatcher.wake()
  await sleep(200)
  t.equal(starts.length, 1, 'one pass on the first wake-up, then quiet')

  // A burst: a wake-up every millisecond for 400 ms, as a busy instance's commits would send.
  const burstStart = performance.now()
  while (performance.now() - burstStart < 400) {
    dispatcher.wake()
    await sleep(1)
  }
  await sleep(GATHER_MS * 3)
  const inBurst = starts.filter((s) => s >= burstStart).length
  t.comment(`passes at ${starts.filter((s) => s >= burstStart).map((s) => Math.round(s - burstStart)).join(', ')} ms`)
  t.ok(inBurst >= 2, `the burst was looked at (${inBurst} passes)`)
  t.ok(inBurst <= Math.ceil(400 / GATHER_MS) + 2, `${inBurst} passes for about 400 wake-ups in 400 ms, not one each`)

  // Quiet again: a lone wake-up is not held back.
  await sleep(GATHER_MS * 2)
  const before = starts.length
  const woken = performance.now()
  dispatcher.wake()
  await sleep(GATHER_MS / 2)
  t.equal(starts.length, before + 1, 'a lone wake-up after a quiet spell starts a pass at once')
  t.ok(starts[starts.length - 1] - woken < GATHER_MS / 2)
})
