import t from 'tap'
import { countRecords } from '../../src/store/log-read.js'
import { approvalApp, deploy, POLICY, prodWrite, type ApprovalCtx } from '../fixtures/approvals.js'

async function grant (ctx: ApprovalCtx, body: Record<string, unknown>, token = ctx.tokens.alice): Promise<Record<string, any>> {
  const res = await ctx.call('POST', '/grants', token, { session_id: 's-1', match: { topics: ['job.write.*'], risk_tags: ['prod'] }, ttl_sec: 600, max_uses: 2, note: 'running the ticket migration', ...body })
  if (res.statusCode !== 201) throw new Error(`grant answered ${res.statusCode}: ${res.body}`)
  return res.json()
}

t.test('a grant pre-authorizes its session, within its match, for its uses; each use is recorded', async (t) => {
  const ctx = await approvalApp(t)
  const g = await grant(ctx, {})
  t.match(g, { session_id: 's-1', tenant_id: 'default', uses: 0, max_uses: 2, created_by: { principal_id: 'alice' }, revoked_at: null })

  const used = await ctx.check(prodWrite('g1', { session_id: 's-1' }))
  t.equal(used.decision, 'ALLOW_WITH_CONSTRAINTS', 'allowed, with the rule\'s constraints')
  t.equal(used.grant_ref, g.grant_id)
  t.equal(used.policy_decision, 'REQUIRE_APPROVAL')
  const trace = (await ctx.call('GET', '/traces/trace-g1', ctx.tokens.auditor)).json().entries
  t.same(trace.map((e: { type: string }) => e.type), ['grant.used', 'decision'])

  t.equal((await ctx.check(prodWrite('g2', { session_id: 's-2' }))).decision, 'REQUIRE_APPROVAL', 'never another session')
  t.equal((await ctx.check(prodWrite('g3'))).decision, 'REQUIRE_APPROVAL', 'nor a job in no session')
  t.equal((await ctx.check(prodWrite('g4', { session_id: 's-1', risk_tags: ['prod', 'pii'] }))).decision, 'REQUIRE_APPROVAL', 'a tag the grant does not name')
  t.equal((await ctx.check(prodWrite('g5', { session_id: 's-1', topic: 'job.read.x' }))).decision, 'ALLOW', 'what needs no approval does not spend it')
  t.equal((await ctx.check(prodWrite('g6', { session_id: 's-1', risk_tags: ['prod', 'destructive'] }))).decision, 'DENY', 'a grant never turns a DENY')

  t.equal((await ctx.check(prodWrite('g7', { session_id: 's-1' }))).grant_ref, g.grant_id, 'second use')
  t.equal((await ctx.check(prodWrite('g8', { session_id: 's-1' }))).decision, 'REQUIRE_APPROVAL', 'used up')
  t.equal(await countRecords(ctx.db, 'grant.used'), 2)

  const listed = (await ctx.call('GET', '/grants', ctx.tokens.auditor)).json()
  t.same(listed.grants, [], 'a used-up grant is not live')
  const all = (await ctx.call('GET', '/grants?include_inactive=true', ctx.tokens.auditor)).json().grants
  t.match(all, [{ grant_id: g.grant_id, uses: 2 }])
})

t.test('a grant dies at its TTL, on revocation, and with its maker\'s key; it never stands in for a quorum or the requester', async (t) => {
  const ctx = await approvalApp(t)
  const short = await grant(ctx, { session_id: 'ttl', ttl_sec: 60 })
  ctx.clock.advance(60)
  t.equal((await ctx.check(prodWrite('t1', { session_id: 'ttl' }))).decision, 'REQUIRE_APPROVAL', 'past its TTL')

  const revoked = await grant(ctx, { session_id: 'rev' })
  const del = await ctx.call('DELETE', `/grants/${String(revoked.grant_id)}`, ctx.tokens.bob)
  t.equal(del.statusCode, 200)
  t.match(del.json(), { revoked_by: { principal_id: 'bob' } })
  t.equal((await ctx.call('DELETE', `/grants/${String(revoked.grant_id)}`, ctx.tokens.bob)).statusCode, 200, 'revoking again answers it as it is')
  t.equal(await countRecords(ctx.db, 'grant.revoked'), 1)
  t.equal((await ctx.check(prodWrite('t2', { session_id: 'rev' }))).decision, 'REQUIRE_APPROVAL', 'revoked')

  const dave = await ctx.token({ principal_id: 'dave', roles: ['reviewer'], tenants: ['*'] })
  await grant(ctx, { session_id: 'key' }, dave)
  const keys = (await ctx.app.inject({ url: '/keys' })).json().keys as Array<{ key_id: string, principal_id: string }>
  const daveKey = keys.find((k) => k.principal_id === 'dave') as { key_id: string }
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `/keys/${daveKey.key_id}` })).statusCode, 200)
  t.equal((await ctx.check(prodWrite('t3', { session_id: 'key' }))).decision, 'REQUIRE_APPROVAL', 'its maker\'s key was revoked')

  await grant(ctx, { session_id: 'quorum', match: { topics: ['job.**'] } })
  t.equal((await ctx.check(deploy('t4', { session_id: 'quorum' }))).decision, 'REQUIRE_APPROVAL', 'one person\'s grant is not two approvals')

  await grant(ctx, { session_id: 'self' }, ctx.tokens.schedReviewer)
  t.equal((await ctx.check(prodWrite('t5', { session_id: 'self' }))).decision, 'REQUIRE_APPROVAL', 'a grant by the requester itself does not count')
  t.equal(short.uses, 0)
})

t.test('grants: who may make and see them, and bad requests', async (t) => {
  const ctx = await approvalApp(t)
  const body = { session_id: 's', match: { topics: ['job.write.*'] }, ttl_sec: 60, max_uses: 1, note: 'n' }
  t.equal((await ctx.call('POST', '/grants', ctx.tokens.scheduler, body)).statusCode, 403, 'schedulers cannot pre-authorize their own jobs')
  t.equal((await ctx.call('POST', '/grants', ctx.tokens.auditor, body)).statusCode, 403)
  const acme = await ctx.token({ principal_id: 'acme-reviewer', roles: ['reviewer'], tenants: ['acme'] })
  t.equal((await ctx.call('POST', '/grants', acme, { ...body, tenant_id: 'globex' })).statusCode, 404, 'a tenant beyond the key looks unknown')
  const made = await ctx.call('POST', '/grants', acme, { ...body, tenant_id: 'acme' })
  t.equal(made.statusCode, 201)
  await grant(ctx, { tenant_id: 'globex' })
  t.same((await ctx.call('GET', '/grants', acme)).json().grants.map((g: { tenant_id: string }) => g.tenant_id), ['acme'])
  const globexGrant = (await ctx.call('GET', '/grants?tenant_id=globex', ctx.tokens.alice)).json().grants[0]
  t.equal((await ctx.call('DELETE', `/grants/${String(globexGrant.grant_id)}`, acme)).statusCode, 404)
  t.equal((await ctx.call('DELETE', '/grants/00000000-0000-4000-8000-000000000000', ctx.tokens.alice)).statusCode, 404)
  t.equal((await ctx.call('DELETE', '/grants/not-a-uuid', ctx.tokens.alice)).statusCode, 400)

  const first = (await ctx.call('GET', '/grants?limit=1', ctx.tokens.alice)).json()
  t.equal(first.grants.length, 1)
  const next = (await ctx.call('GET', `/grants?limit=1&cursor=${String(first.next_cursor)}`, ctx.tokens.alice)).json()
  t.not(next.grants[0].grant_id, first.grants[0].grant_id, 'cursor pages')
  t.equal((await ctx.call('GET', '/grants?cursor=bogus', ctx.tokens.alice)).statusCode, 400)
  const dashes = Buffer.from(JSON.stringify(['2026-11-25T12:00:00.000Z', '-'.repeat(36)])).toString('base64url')
  t.equal((await ctx.call('GET', `/grants?cursor=${dashes}`, ctx.tokens.alice)).statusCode, 400, 'a cursor this service did not give out')

  for (const bad of [
    { ...body, note: undefined },
    { ...body, ttl_sec: 0 },
    { ...body, max_uses: 0 },
    { ...body, match: { topics: [] } },
    { ...body, match: { topics: ['job..x'] } },
    { ...body, match: { topics: ['job.*'], extra: 1 } },
    { ...body, session_id: undefined }
  ]) {
    const res = await ctx.call('POST', '/grants', ctx.tokens.alice, bad)
    t.equal(res.statusCode, 400, JSON.stringify(bad))
    t.equal(res.json().code, 'ARBITER_ERR_VALIDATION')
  }
})

t.test('a grant covers a job as the rules see it: a derived tag it does not name keeps the approval', async (t) => {
  const policy = POLICY.replace('rules:', 'derive:\n  - { id: customer-data-is-pii, match: { labels: { data: customer } }, add: [pii] }\nrules:')
  const ctx = await approvalApp(t, { policies: { 'p.yaml': policy } })
  const g = await grant(ctx, { session_id: 'd-1' })
  const plain = await ctx.check(prodWrite('d1', { session_id: 'd-1' }))
  t.equal(plain.grant_ref, g.grant_id, 'a prod write: covered')
  const derived = await ctx.check(prodWrite('d2', { session_id: 'd-1', labels: { data: 'customer' } }))
  t.same(derived.derived_risk_tags, ['pii'])
  t.equal(derived.decision, 'REQUIRE_APPROVAL', 'the grant names [prod], the job is [pii, prod]')
  t.equal(derived.grant_ref, undefined)
})
