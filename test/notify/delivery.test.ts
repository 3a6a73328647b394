/**
 * Webhook notifications to a real receiver on 127.0.0.1: each notified record arrives once,
 * signed so that a receiver holding the secret verifies it (checked here with node:crypto
 * alone), saying what a reviewer may see and nothing more; Slack-format tenant webhooks get a
 * line with the console link, and only their tenant's events.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import t from 'tap'
import { approvalApp, prodWrite } from '../fixtures/approvals.js'
import { webhookReceiver, type Received } from '../support/notifications.js'

const SECRET = `whsec_${randomBytes(32).toString('base64')}`
const CONSOLE = 'https://arbiter.example.com'

/** What a receiver does, written from the Standard Webhooks specification, not from Arbiter's code. */
function verifies (secret: string, r: Received, nowSec: number): boolean {
  if (r.signature === undefined || Math.abs(nowSec - Number(r.timestamp)) > 300) return false
  const expected = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64')).update(`${r.id}.${r.timestamp}.${r.body}`).digest()
  return r.signature.split(' ').some((s) => {
    const [version, sig] = s.split(',')
    const given = Buffer.from(sig ?? '', 'base64')
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected)
  })
}

t.test('every notified record arrives once, signed, saying only what a reviewer may see', async (t) => {
  const receiver = await webhookReceiver(t)
  const ctx = await approvalApp(t, { env: { NOTIFY_WEBHOOK_URL: receiver.url, NOTIFY_WEBHOOK_SECRET: SECRET, CONSOLE_BASE_URL: `${CONSOLE}/` } })
  const { check, vote, call, tokens, clock } = ctx

  const asked = Date.now()
  await check(prodWrite('w1'))
  await receiver.waitFor(1)
  const latencyMs = receiver.received[0].at - asked
  t.comment(`check answered → notification received: ${latencyMs} ms`)
  t.ok(latencyMs < 2000, 'the dispatcher is woken by the commit, not a slow poll')

  t.equal((await vote('w1', 'approve', tokens.alice)).statusCode, 200)
  await check(prodWrite('w2'))
  t.equal((await vote('w2', 'deny', tokens.bob, { note: 'the ticket names a customer: private note' })).statusCode, 200)
  await check(prodWrite('w3'))
  t.equal((await call('POST', '/jobs/w3/events', tokens.scheduler, { status: 'DISPATCHED' })).statusCode, 409, 'a violation')
  await check(prodWrite('w4'))
  clock.advance(3601)
  t.equal((await check(prodWrite('w4'))).reason, 'approval expired')
  t.equal((await call('POST', '/grants', tokens.alice, { session_id: 's-1', match: { topics: ['job.write.*'] }, ttl_sec: 600, max_uses: 3, note: 'migration OPS-1' })).statusCode, 201)

  const { rows } = await ctx.db.query<{ tenant_id: string, seq: string, record_type: string }>(
    "select tenant_id, seq::text as seq, record_type from audit_log where record_type in ('approval.requested', 'approval.resolved', 'approval.expired', 'job.violation', 'grant.created') order by seq")
  t.equal(rows.length, 9, '4 requested, 2 resolved, 1 expired, 1 violation, 1 grant')
  await receiver.waitFor(rows.length)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same([...receiver.ids()].sort(), rows.map((r) => `${r.tenant_id}:${r.seq}`).sort(), 'one notification per record, by its id')
  t.equal(receiver.received.length, rows.length, 'none twice')

  const now = Math.floor(Date.now() / 1000)
  for (const r of receiver.received) t.ok(verifies(SECRET, r, now), `${r.id}: the signature verifies`)
  const tampered = { ...receiver.received[0], body: receiver.received[0].body.replace('w1', 'w9') }
  t.notOk(verifies(SECRET, tampered, now), 'a changed body does not verify')
  t.notOk(verifies(`whsec_${randomBytes(32).toString('base64')}`, receiver.received[0], now), 'another secret does not verify')

  const byType = new Map<string, Array<Record<string, any>>>()
  for (const r of receiver.received) {
    const body = JSON.parse(r.body) as Record<string, any>
    t.same(Object.keys(body).sort(), ['data', 'timestamp', 'type'])
    t.equal(body.data.event_id, r.id, 'the body names its webhook-id')
    t.notMatch(r.body, /closed|fields|private note|migration OPS-1/, `${r.id}: no job arguments, vote notes or grant notes`)
    byType.set(body.type, [...byType.get(body.type) ?? [], body])
  }
  t.match(byType.get('approval.requested')?.[0], {
    timestamp: new Date(Date.UTC(2026, 10, 25, 12)).toISOString(),
    data: { tenant_id: 'default', job_id: 'w1', trace_id: 'trace-w1', topic: 'job.write.ticket', rule_id: 'prod-write', reason: 'Production writes need review', status: 'PENDING', approvals_required: 1, approval_id: String, expires_at: String, console_url: `${CONSOLE}/console/#/approvals/w1?tenant_id=default` }
  })
  t.same(byType.get('approval.resolved')?.map((b) => [b.data.job_id, b.data.status, b.data.resolved_by]), [['w1', 'APPROVED', ['alice']], ['w2', 'DENIED', ['bob']]])
  t.match(byType.get('approval.expired'), [{ data: { job_id: 'w4', status: 'EXPIRED', topic: 'job.write.ticket', actor: 'arbiter-clock' } }])
  t.match(byType.get('job.violation'), [{ data: { job_id: 'w3', kind: 'ran_without_allow', status: 'DISPATCHED', decision: 'REQUIRE_APPROVAL', topic: 'job.write.ticket', rule_id: 'prod-write' } }])
  t.match(byType.get('grant.created'), [{ data: { job_id: null, session_id: 's-1', topics: ['job.write.*'], max_uses: 3, actor: 'alice' } }])

  const delivered = (await call('GET', '/notifications/deliveries?status=delivered&limit=200', tokens.auditor)).json()
  t.equal(delivered.deliveries.length, rows.length, 'every delivery is listed as delivered')
  t.ok(delivered.deliveries.every((d: Record<string, unknown>) => d.attempts === 1 && d.last_http_status === 204 && d.destination === 'global'))
  const metrics = (await ctx.app.inject({ url: '/metrics' })).body
  t.match(metrics, /arbiter_notification_deliveries_total\{event="approval.requested",outcome="delivered"\} 4/)
  t.match(metrics, /arbiter_notification_delivery_latency_seconds_count 9/)
  t.match(metrics, /arbiter_notification_backlog\{state="pending"\} 0/)
  t.notOk(ctx.logLines.some((l) => l.includes(SECRET.slice(6))), 'the secret is in no log line')
})

t.test('a tenant\'s Slack webhook gets its tenant\'s events as a line with the console link', async (t) => {
  const global = await webhookReceiver(t)
  const slack = await webhookReceiver(t, '/services/T0/B0/secret-path')
  const ctx = await approvalApp(t, {
    env: {
      NOTIFY_WEBHOOK_URL: global.url,
      NOTIFY_WEBHOOK_SECRET: SECRET,
      NOTIFY_TENANT_WEBHOOKS: JSON.stringify({ acme: { url: slack.url, format: 'slack' } }),
      CONSOLE_BASE_URL: CONSOLE
    }
  })
  await ctx.check(prodWrite('a/1<x>&', { tenant_id: 'acme', trace_id: 'trace-acme' }))
  await ctx.check(prodWrite('d1'))
  await global.waitFor(2)
  await slack.waitFor(1)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(slack.received.length, 1, 'only the acme event went to acme\'s webhook')
  const msg = slack.received[0]
  t.equal(msg.signature, undefined, 'a webhook without a secret gets no signature')
  t.match(msg.id, /^acme:\d+$/)
  const body = JSON.parse(msg.body) as { text: string }
  t.same(Object.keys(body), ['text'])
  t.match(body.text, 'Approval requested for job `a/1&lt;x&gt;&amp;` (job.write.ticket) in tenant acme: Production writes need review')
  t.match(body.text, `<${CONSOLE}/console/#/approvals/a%2F1%3Cx%3E%26?tenant_id=acme|Open in the console>`)
  const list = (await ctx.call('GET', '/notifications/deliveries?tenant_id=acme', ctx.tokens.auditor)).json()
  t.same(list.deliveries.map((d: Record<string, unknown>) => [d.destination, d.format, d.status]).sort(), [['global', 'standard', 'delivered'], ['tenant', 'slack', 'delivered']])
  t.notOk(ctx.logLines.some((l) => l.includes('secret-path')), 'the webhook\'s path is in no log line')
})

t.test('without webhooks, events are not kept waiting', async (t) => {
  const ctx = await approvalApp(t)
  await ctx.check(prodWrite('n1'))
  const until = Date.now() + 5000
  let left = 1
  while (left > 0 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    left = Number((await ctx.db.query<{ n: number }>('select count(*)::int as n from notification_outbox')).rows[0].n)
  }
  t.equal(left, 0, 'the outbox is emptied')
  t.same((await ctx.call('GET', '/notifications/deliveries', ctx.tokens.auditor)).json(), { deliveries: [], next_cursor: null })
})
