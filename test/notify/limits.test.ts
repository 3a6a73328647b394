/**
 * The limits of delivery: two instances on one database do not both deliver one event; retries
 * stop at NOTIFY_RETRY_MAX_SEC; an answer that never comes times out; a webhook taken out of the
 * configuration gets nothing more.
 */
import t from 'tap'
import { nextDueInMs } from '../../src/store/notifications.js'
import { testApp } from '../helpers.js'
import { approvalApp, prodWrite } from '../fixtures/approvals.js'
import { deliveries, expectedIds, notifyEnv as env, until, webhookReceiver } from '../support/notifications.js'

t.test('two instances on one database deliver each event once', async (t) => {
  const receiver = await webhookReceiver(t)
  const clockAt = { ms: Date.UTC(2026, 10, 25, 12) }
  // A tenant's approvals take turns under its log's lock: several tenants, and a budget that a
  // busy test machine does not run out of, keep the checks themselves out of the way.
  const budget = { CHECK_BUDGET_MS: '10000' }
  const one = await approvalApp(t, { clockAt, env: env(receiver.url, budget) })
  const two = await approvalApp(t, { clockAt, testDb: one.testDb, deps: { key: one.deps.key }, env: env(receiver.url, budget) })
  await Promise.all(Array.from({ length: 12 }, async (_, i) =>
    await (i % 2 === 0 ? one : two).check(prodWrite(`p${i}`, { tenant_id: `t${i % 4}`, trace_id: `trace-p${i}` }))))
  const expected = await expectedIds(one.db)
  t.equal(expected.length, 12)
  await receiver.waitFor(expected.length)
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.same([...receiver.ids()].sort(), expected)
  t.equal(receiver.received.length, expected.length, 'no event twice')
  t.ok((await deliveries(one.db)).every((d) => d.status === 'delivered' && d.attempts === 1))
})

t.test('retries stop at NOTIFY_RETRY_MAX_SEC: the delivery is failed, counted and listed', async (t) => {
  const receiver = await webhookReceiver(t)
  receiver.mode = 'error'
  const ctx = await approvalApp(t, { env: env(receiver.url, { NOTIFY_RETRY_MAX_SEC: '1', NOTIFY_BACKOFF_MS: '100' }) })
  await ctx.check(prodWrite('f1'))
  await until('the delivery failed', async () => (await deliveries(ctx.db))[0]?.status === 'failed')
  const [d] = await deliveries(ctx.db)
  t.ok(d.attempts >= 2, `retried (${d.attempts} attempts) before giving up`)
  t.equal(d.last_http_status, 500)
  const failed = (await ctx.call('GET', '/notifications/deliveries?status=failed', ctx.tokens.auditor)).json()
  t.match(failed.deliveries, [{ type: 'approval.requested', status: 'failed', next_attempt_at: null, last_error: 'the webhook answered 500' }])
  const metrics = (await ctx.app.inject({ url: '/metrics' })).body
  t.match(metrics, /arbiter_notification_deliveries_total\{event="approval.requested",outcome="failed"\} 1/)
  t.match(metrics, /arbiter_notification_deliveries_total\{event="approval.requested",outcome="retry"\} [1-9]/)
  t.ok(ctx.logLines.some((l) => l.includes('its retries ran out')), 'the give-up is logged')
  receiver.mode = 'ok'
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(receiver.received.length, 0, 'a failed delivery is not tried again')
})

t.test('a webhook that never answers times out and is retried', async (t) => {
  const receiver = await webhookReceiver(t)
  receiver.mode = 'hang'
  const ctx = await approvalApp(t, { env: env(receiver.url, { NOTIFY_TIMEOUT_MS: '200' }) })
  await ctx.check(prodWrite('t1'))
  await until('a timed-out attempt', async () => (await deliveries(ctx.db))[0]?.last_error === 'the webhook did not answer in time')
  receiver.mode = 'ok'
  await receiver.waitFor(1)
  await until('delivered', async () => (await deliveries(ctx.db))[0]?.status === 'delivered')
  t.ok((await deliveries(ctx.db))[0].attempts >= 2)
})

t.test('a webhook taken out of the configuration gets nothing more; its deliveries fail in time', async (t) => {
  const receiver = await webhookReceiver(t)
  await receiver.down()
  const clockAt = { ms: Date.UTC(2026, 10, 25, 12) }
  const tenants = JSON.stringify({ acme: { url: receiver.url, format: 'slack' } })
  const one = await approvalApp(t, { clockAt, env: { NOTIFY_TENANT_WEBHOOKS: tenants, NOTIFY_BACKOFF_MS: '50', NOTIFY_RETRY_MAX_SEC: '2' } })
  await one.check(prodWrite('x1', { tenant_id: 'acme', trace_id: 'trace-x1' }))
  await until('a refused attempt', async () => /ECONNREFUSED/.test((await deliveries(one.db))[0]?.last_error ?? ''))
  await one.app.close()
  await receiver.up()
  const two = await approvalApp(t, { clockAt, testDb: one.testDb, deps: { key: one.deps.key }, env: { NOTIFY_BACKOFF_MS: '50', NOTIFY_RETRY_MAX_SEC: '2' } })
  await until('the delivery failed', async () => (await deliveries(two.db))[0]?.status === 'failed')
  t.match(await deliveries(two.db), [{ status: 'failed', last_error: 'no tenant webhook is configured any more' }])
  t.equal(receiver.received.length, 0)
})

t.test('an idle dispatcher sleeps: nothing pending is not something due now', async (t) => {
  const { db } = await testApp(t)
  t.equal(await nextDueInMs(db), undefined, 'no pending delivery: nothing is due (the pass waits a poll)')
  const insert = async (seq: number, inSec: number): Promise<void> => {
    await db.query(`insert into notification_deliveries (tenant_id, seq, event_type, destination, format, body, status, created_at, next_attempt_at)
      values ('acme', $1, 'approval.requested', 'global', 'standard', '{}', 'pending', now(), now() + make_interval(secs => $2))`, [seq, inSec])
  }
  await insert(1, 60)
  const later = await nextDueInMs(db) as number
  t.ok(later > 50_000 && later <= 60_000, `one due in a minute: ${later} ms`)
  await insert(2, -5)
  t.equal(await nextDueInMs(db), 0, 'one overdue: due now')
})
