/**
 * Notifications that cannot be lost: a receiver that fails, then refuses connections, then comes
 * back still gets every event, across a restart of Arbiter in between; an instance stopped
 * mid-attempt leaves the attempt to the next one, without waiting for its answer.
 */
import t from 'tap'
import { approvalApp, prodWrite } from '../fixtures/approvals.js'
import { deliveries, expectedIds, notifyEnv as env, until, webhookReceiver } from '../support/notifications.js'

t.test('a receiver that fails, goes away and comes back gets every event, across a restart', async (t) => {
  const receiver = await webhookReceiver(t)
  receiver.mode = 'error'
  const clockAt = { ms: Date.UTC(2026, 10, 25, 12) }
  const one = await approvalApp(t, { clockAt, env: env(receiver.url) })
  for (const id of ['r1', 'r2', 'r3']) await one.check(prodWrite(id))
  await until('attempts answered 500', async () => (await deliveries(one.db)).filter((d) => d.last_http_status === 500).length === 3)

  await receiver.down()
  t.equal((await one.vote('r1', 'approve', one.tokens.alice)).statusCode, 200)
  await until('attempts refused', async () => (await deliveries(one.db)).filter((d) => /ECONNREFUSED/.test(d.last_error ?? '')).length >= 4)
  t.equal(receiver.received.length, 0, 'nothing was taken while the receiver failed')

  // A restart while the receiver is away: the new instance finds what the old one left.
  await one.app.close()
  const two = await approvalApp(t, { clockAt, testDb: one.testDb, deps: { key: one.deps.key }, env: env(receiver.url) })
  await two.check(prodWrite('r4'))
  receiver.mode = 'ok'
  await receiver.up()

  const expected = await expectedIds(two.db)
  t.equal(expected.length, 5, '4 approvals requested, 1 resolved')
  await receiver.waitFor(expected.length)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same([...receiver.ids()].sort(), expected, 'every event arrived')
  t.equal(receiver.received.length, expected.length, 'each once: every failed attempt was known to have failed')
  const rows = await deliveries(two.db)
  t.ok(rows.every((d) => d.status === 'delivered'), 'all delivered')
  t.ok(rows.filter((d) => d.attempts > 2).length >= 3, 'the early ones after several attempts')
  const metrics = (await two.app.inject({ url: '/metrics' })).body
  t.match(metrics, /arbiter_notification_deliveries_total\{event="approval.requested",outcome="delivered"\} [1-4]/)
})

t.test('an instance stopped with attempts in flight leaves them for the next one', async (t) => {
  const receiver = await webhookReceiver(t)
  receiver.mode = 'hang'
  const clockAt = { ms: Date.UTC(2026, 10, 25, 12) }
  const one = await approvalApp(t, { clockAt, env: env(receiver.url, { NOTIFY_TIMEOUT_MS: '30000' }) })
  await one.check(prodWrite('h1'))
  await until('an attempt in flight', async () => (await deliveries(one.db)).some((d) => d.attempts === 1))
  const closing = Date.now()
  await one.app.close()
  t.ok(Date.now() - closing < 5000, `closing did not wait for the answer (${Date.now() - closing} ms)`)
  t.match(await deliveries(one.db), [{ status: 'pending', attempts: 1, last_error: 'arbiter shut down during the attempt' }])

  receiver.mode = 'ok'
  const two = await approvalApp(t, { clockAt, testDb: one.testDb, deps: { key: one.deps.key }, env: env(receiver.url) })
  await receiver.waitFor(1)
  t.same([...receiver.ids()], await expectedIds(two.db), 'sent by the next instance at once')
})
