/**
 * GET /notifications/deliveries: an auditor's list of webhook deliveries, newest first, filtered
 * and paged, within the tenants the key reaches, answered as openapi.yaml says.
 */
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { approvalApp, prodWrite } from '../fixtures/approvals.js'
import { assertDocumented } from '../support/openapi.js'
import { webhookReceiver } from '../support/notifications.js'

const PATH = '/notifications/deliveries'

t.test('deliveries are listed newest first, filtered, paged and scoped to the key\'s tenants', async (t) => {
  const receiver = await webhookReceiver(t)
  const ctx = await approvalApp(t, { env: { NOTIFY_WEBHOOK_URL: receiver.url, NOTIFY_WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}` } })
  const { check, tokens } = ctx
  for (const [id, tenant] of [['a1', 'acme'], ['a2', 'acme'], ['g1', 'globex'], ['d1', 'default']]) {
    await check(prodWrite(id, { tenant_id: tenant, trace_id: `trace-${id}` }))
  }
  t.equal((await ctx.vote('a1', 'approve', tokens.alice, { tenant_id: 'acme' })).statusCode, 200)
  await receiver.waitFor(5)
  const get = async (query: string, token = tokens.auditor): Promise<Record<string, any>> => {
    const res = await ctx.call('GET', `${PATH}${query}`, token)
    return { status: res.statusCode, ...assertDocumented(t, res, 'GET', PATH) }
  }
  let all = await get('')
  for (let i = 0; i < 50 && all.deliveries.some((d: Record<string, unknown>) => d.status !== 'delivered'); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    all = await get('')
  }
  t.equal(all.deliveries.length, 5)
  const ids = all.deliveries.map((d: Record<string, string>) => Number(d.delivery_id))
  t.same(ids, [...ids].sort((a, b) => b - a), 'newest first')
  t.same(new Set(all.deliveries.map((d: Record<string, string>) => d.event_id)), receiver.ids(), 'each names the webhook-id it was sent with')

  t.same((await get('?tenant_id=acme')).deliveries.map((d: Record<string, string>) => d.type).sort(), ['approval.requested', 'approval.requested', 'approval.resolved'])
  t.same((await get('?type=approval.resolved')).deliveries.map((d: Record<string, string>) => d.tenant_id), ['acme'])
  t.equal((await get('?status=delivered')).deliveries.length, 5)
  t.equal((await get('?status=failed')).deliveries.length, 0)

  const first = await get('?limit=2')
  t.equal(first.deliveries.length, 2)
  t.type(first.next_cursor, 'string')
  const second = await get(`?limit=2&cursor=${String(first.next_cursor)}`)
  const third = await get(`?limit=2&cursor=${String(second.next_cursor)}`)
  t.equal(third.next_cursor, null, 'the last page has no cursor')
  t.same([...first.deliveries, ...second.deliveries, ...third.deliveries].map((d: Record<string, string>) => Number(d.delivery_id)), ids, 'pages hold each delivery once')

  const acmeAuditor = await ctx.token({ principal_id: 'audit-acme', roles: ['auditor'], tenants: ['acme'] })
  t.same(new Set((await get('', acmeAuditor)).deliveries.map((d: Record<string, string>) => d.tenant_id)), new Set(['acme']), 'a key scoped to acme sees acme only')
  t.same((await get('?tenant_id=globex', acmeAuditor)).deliveries, [], 'another tenant asked for by name is an empty page')

  const scheduler = await get('', tokens.scheduler)
  t.equal(scheduler.status, 403)
  t.equal(scheduler.code, 'ARBITER_ERR_FORBIDDEN')
  t.equal((await get('', tokens.alice)).status, 403, 'a reviewer does not read deliveries')
  const anonymous = await ctx.app.inject({ url: PATH, headers: { authorization: undefined } })
  t.equal(anonymous.statusCode, 401)

  for (const bad of ['status=lost', 'type=decision', 'limit=0', 'limit=201', 'limit=x', 'cursor=abc', 'cursor=0', 'cursor=-1', 'tenant_id=', 'tenant_id=a%20b', 'colour=red']) {
    const res = await get(`?${bad}`)
    t.equal(res.status, 400, `${bad}: 400`)
    t.same(Object.keys(res).filter((k) => k !== 'status').sort(), ['code', 'error', 'message', 'statusCode'], `${bad}: the one error shape`)
    t.equal(res.code, 'ARBITER_ERR_VALIDATION', bad)
  }
})
