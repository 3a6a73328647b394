/**
 * The console's routes without a browser: who the caller is, the queue with its filters and its
 * wait for a change, the review of one approval, and the console's files with their headers.
 */
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { CONSOLE_CSP } from '../../src/routes/console-assets.js'
import { approvalApp, prodWrite } from '../fixtures/approvals.js'
import { ensureConsoleBuilt } from '../console/support.js'

t.test('GET /whoami names the key, never its token', async (t) => {
  const ctx = await approvalApp(t)
  const res = await ctx.call('GET', '/whoami', ctx.tokens.alice)
  t.equal(res.statusCode, 200)
  t.match(res.json(), { principal_id: 'alice', key_id: /^key_/, roles: ['reviewer'], tenants: ['*'], kind: 'person' })
  t.notMatch(res.body, ctx.tokens.alice)
  t.equal((await ctx.call('GET', '/whoami', 'arb_nope')).statusCode, 401)
})

t.test('GET /queue: pending approvals, filtered, each saying whether it awaits my vote', async (t) => {
  const ctx = await approvalApp(t)
  await ctx.check(prodWrite('w1'))
  await ctx.check({ ...prodWrite('w2', { principal_id: 'agent:other' }), tenant_id: 'acme', labels: { env: 'prod' } })
  await ctx.check({ job_id: 'd1', topic: 'job.deploy.api', principal_id: 'agent:bot' })
  t.equal((await ctx.vote('d1', 'approve', ctx.tokens.bob)).statusCode, 200)
  await ctx.check({ job_id: 'gone', topic: 'job.write.ticket', risk_tags: ['prod'] })
  t.equal((await ctx.vote('gone', 'deny', ctx.tokens.bob, { note: 'no' })).statusCode, 200)

  const queue = async (token: string, query = ''): Promise<Record<string, any>> => (await ctx.call('GET', `/queue${query}`, token)).json()
  const all = await queue(ctx.tokens.alice)
  t.same(all.approvals.map((i: any) => i.approval.job_id), ['w1', 'w2', 'd1'], 'pending only, oldest first')
  t.match(all, { version: /^[0-9a-f]{16}$/, truncated: false })
  t.same(all.approvals.map((i: any) => i.awaiting_my_vote), [true, true, true])
  const bobs = await queue(ctx.tokens.bob)
  t.match(bobs.approvals[2], { awaiting_my_vote: false, vote_refusal: 'bob already voted APPROVE on this approval' })
  t.same((await queue(ctx.tokens.bob, '?awaiting_my_vote=true')).approvals.map((i: any) => i.approval.job_id), ['w1', 'w2'])
  t.match((await queue(ctx.tokens.agent)).approvals[0], { awaiting_my_vote: false, vote_refusal: 'agent:bot is the agent this job acts for and may not resolve it' })
  t.match((await queue(ctx.tokens.auditor)).approvals[0], { awaiting_my_vote: false, vote_refusal: /does not vote: voting needs the role reviewer/ })
  t.same((await queue(ctx.tokens.alice, '?tenant_id=acme')).approvals.map((i: any) => i.approval.job_id), ['w2'])
  t.same((await queue(ctx.tokens.alice, '?rule_id=two-person-deploy')).approvals.map((i: any) => i.approval.job_id), ['d1'])
  t.same((await queue(ctx.tokens.alice, '?risk_tag=prod&topic=job.write.ticket')).approvals.map((i: any) => i.approval.job_id), ['w1', 'w2'])
  t.equal((await queue(ctx.tokens.alice, '?risk_tag=pii')).approvals.length, 0)
  const acmeOnly = await ctx.token({ principal_id: 'erin', roles: ['reviewer'], tenants: ['acme'] })
  t.same((await queue(acmeOnly)).approvals.map((i: any) => i.approval.job_id), ['w2'], 'only the key\'s tenants')
  t.equal((await ctx.call('GET', '/queue', ctx.tokens.scheduler)).statusCode, 403, 'schedulers have no queue')
  t.equal((await ctx.call('GET', '/queue?wait_sec=61', ctx.tokens.alice)).statusCode, 400)
  t.equal((await ctx.call('GET', '/queue?version=nope', ctx.tokens.alice)).statusCode, 400)
  t.equal((await queue(ctx.tokens.alice)).version, all.version, 'the same queue, the same version')
})

t.test('GET /queue with version and wait_sec answers when the queue changes, or when the wait is up', async (t) => {
  const ctx = await approvalApp(t, { clockAt: { ms: Date.now() } })
  const first = (await ctx.call('GET', '/queue', ctx.tokens.alice)).json()
  const started = performance.now()
  const waiting = ctx.call('GET', `/queue?version=${String(first.version)}&wait_sec=10`, ctx.tokens.alice)
  await new Promise((resolve) => setTimeout(resolve, 300))
  await ctx.check(prodWrite('late'))
  const changed = (await waiting).json()
  const took = performance.now() - started
  t.same(changed.approvals.map((i: any) => i.approval.job_id), ['late'])
  t.not(changed.version, first.version)
  t.ok(took < 2000, `answered ${took.toFixed(0)} ms after it began, soon after the check`)

  const other = (await ctx.call('GET', `/queue?version=${'0'.repeat(16)}&wait_sec=10`, ctx.tokens.alice)).json()
  t.equal(other.version, changed.version, 'a version that is not the queue\'s is answered at once')
  const quiet = performance.now()
  const same = (await ctx.call('GET', `/queue?version=${String(changed.version)}&wait_sec=1`, ctx.tokens.alice)).json()
  t.equal(same.version, changed.version)
  t.ok(performance.now() - quiet >= 900, 'an unchanged queue is answered when the wait is up')
})

t.test('GET /approvals/:job_id/review: the approval, the command\'s classes and the version before', async (t) => {
  const ctx = await approvalApp(t, {
    policies: {
      'p.yaml': `
version: v1
rules:
  - id: changes
    match: { topics: ["job.exec.*"], command_class: [write, network] }
    decision: require_approval
    reason: review it
`
    }
  })
  const job = (command: string): Record<string, unknown> => ({ job_id: 'x1', topic: 'job.exec.shell', principal_id: 'agent:bot', command })
  await ctx.check(job('cp a b'))
  let review = (await ctx.call('GET', '/approvals/x1/review', ctx.tokens.alice)).json()
  t.match(review, { approval: { job_id: 'x1', status: 'PENDING' }, awaiting_my_vote: true, vote_refusal: null, previous: null, derived_risk_tags: [] })
  t.match(review.command, { parsed: true, classes: ['write'] })
  await ctx.check(job('cp a b && curl -X POST https://example.test'))
  review = (await ctx.call('GET', '/approvals/x1/review', ctx.tokens.auditor)).json()
  t.match(review, { awaiting_my_vote: false, previous: { status: 'SUPERSEDED', job: { command: 'cp a b' } } })
  t.ok(review.command.classes.includes('network'))
  t.equal((await ctx.call('GET', '/approvals/nope/review', ctx.tokens.alice)).statusCode, 404)
  t.equal((await ctx.call('GET', '/approvals/x1/review?tenant_id=acme', ctx.tokens.alice)).statusCode, 404)
  t.equal((await ctx.call('GET', '/approvals/x1/review', ctx.tokens.scheduler)).statusCode, 403)
})

t.test('the console\'s files: public, with a strict CSP; nothing outside its directory', async (t) => {
  ensureConsoleBuilt()
  const ctx = await approvalApp(t)
  const page = await ctx.app.inject({ url: '/console', headers: { authorization: undefined } })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.equal(page.headers['content-security-policy'], CONSOLE_CSP)
  t.match(CONSOLE_CSP, /default-src 'self'.*frame-ancestors 'none'/)
  t.equal(page.headers['x-content-type-options'], 'nosniff')
  t.equal(page.headers['referrer-policy'], 'no-referrer')
  t.notMatch(page.body, /<script>|style=/, 'no inline script or style')
  const script = await ctx.app.inject({ url: '/console/main.js', headers: { authorization: undefined } })
  t.equal(script.statusCode, 200)
  t.match(script.headers['content-type'], /^text\/javascript/)
  t.match((await ctx.app.inject({ url: '/console/console.css' })).headers['content-type'], /^text\/css/)
  const slash = await ctx.app.inject({ url: '/console/', headers: { authorization: undefined } })
  t.equal(slash.body, page.body, '/console/ is the page too')
  for (const url of ['/console/nope.js', '/console/..%2Fpackage.json', '/console/%2E%2E%2Fsrc%2Fconfig.ts', '/console/main.ts', '/console/.env']) {
    const res = await ctx.app.inject({ url, headers: { authorization: undefined } })
    t.equal(res.statusCode, 404, `${url}: 404`)
    t.equal(res.json().code, 'ARBITER_ERR_NOT_FOUND')
  }
})
