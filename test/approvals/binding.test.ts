import t from 'tap'
import { approvalApp, deploy, prodWrite } from '../fixtures/approvals.js'

t.test('hash binding: any hashed change needs a new approval and supersedes the old; key order does not matter', async (t) => {
  const ctx = await approvalApp(t)
  const base = prodWrite('b1', { labels: { env: 'prod', team: 'ops' }, command: 'psql -c "update t"' })
  const first = await ctx.check(base)
  await ctx.vote('b1', 'approve', ctx.tokens.alice)

  // The same job with every object's keys in another order is the same job.
  const reordered = { command: base.command, labels: { team: 'ops', env: 'prod' }, args: { fields: { status: 'closed' }, id: 42 }, principal_id: 'agent:bot', risk_tags: ['prod'], topic: 'job.write.ticket', job_id: 'b1', trace_id: 'another-trace' }
  const sameJob = await ctx.call('POST', '/check/simulate', ctx.tokens.scheduler, reordered)
  t.equal(sameJob.json().job_hash, first.job_hash, 'reordered keys and another trace id hash the same')

  const changes: Array<[string, Record<string, unknown>]> = [
    ['an argument', { args: { id: 43, fields: { status: 'closed' } } }],
    ['a label', { labels: { env: 'prod', team: 'payments' } }],
    ['a risk tag', { risk_tags: ['prod', 'pii'] }],
    ['the command', { command: 'psql -c "drop table t"' }]
  ]
  let previous = first.approval.approval_id as string
  for (const [what, change] of changes) {
    const changed = await ctx.check({ ...base, ...change })
    t.equal(changed.decision, 'REQUIRE_APPROVAL', `a changed ${what} is not covered`)
    t.not(changed.approval.approval_id, previous, `a changed ${what} gets its own approval`)
    t.not(changed.job_hash, first.job_hash)
    previous = changed.approval.approval_id
  }
  const history = (await ctx.call('GET', '/approvals?include_resolved=true', ctx.tokens.alice)).json().approvals
  t.same(history.map((a: { status: string }) => a.status), ['SUPERSEDED', 'SUPERSEDED', 'SUPERSEDED', 'SUPERSEDED', 'PENDING'], 'each older one is marked superseded')
  t.match(history[0].resolution, { superseded_by_hash: history[1].job_hash })

  const stale = await ctx.vote('b1', 'approve', ctx.tokens.alice, { job_hash: first.job_hash })
  t.equal(stale.statusCode, 409, 'a reviewer who saw the old job is told it changed')
  t.equal(stale.json().code, 'ARBITER_ERR_STALE_JOB_HASH')

  // The old content again: the approved one was superseded, so it asks again.
  const back = await ctx.check(reordered)
  t.equal(back.decision, 'REQUIRE_APPROVAL')
  t.equal(await ctx.verify(), 19)
})

t.test('separation of duties: the requester and the agent cannot vote; one vote per reviewer; roles count', async (t) => {
  const ctx = await approvalApp(t)
  await ctx.check(deploy('s1'))
  const byRequester = await ctx.vote('s1', 'approve', ctx.tokens.schedReviewer)
  t.equal(byRequester.statusCode, 403, 'the principal whose key checked the job')
  t.match(byRequester.json(), { code: 'ARBITER_ERR_FORBIDDEN', message: /requested this approval/ })
  const byAgent = await ctx.vote('s1', 'deny', ctx.tokens.agent, { note: 'me' })
  t.equal(byAgent.statusCode, 403, 'the agent the job acts for')
  t.match(byAgent.json().message, /agent this job acts for/)
  t.equal((await ctx.vote('s1', 'approve', ctx.tokens.scheduler)).statusCode, 403, 'a scheduler key has no reviewer role')

  t.equal((await ctx.vote('s1', 'approve', ctx.tokens.alice)).statusCode, 200)
  const twice = await ctx.vote('s1', 'approve', ctx.tokens.alice)
  t.equal(twice.statusCode, 409)
  t.equal(twice.json().code, 'ARBITER_ERR_ALREADY_VOTED')
  const aliceAgain = await ctx.token({ principal_id: 'alice', roles: ['reviewer'], tenants: ['*'] })
  t.equal((await ctx.vote('s1', 'approve', aliceAgain)).statusCode, 409, 'a second key of the same person is the same person')
  const adminOnly = await approvalApp(t, {
    policies: { 'p.yaml': 'version: v1\nrules:\n  - id: admins\n    match: { topics: ["job.**"] }\n    decision: require_approval\n    approval: { roles: [admin] }\n' }
  })
  await adminOnly.check(deploy('s2'))
  const reviewer = await adminOnly.vote('s2', 'approve', adminOnly.tokens.alice)
  t.equal(reviewer.statusCode, 403)
  t.match(reviewer.json().message, /needs the role admin/)
  t.equal((await adminOnly.vote('s2', 'approve', adminOnly.adminToken)).statusCode, 403, 'an admin service key may not: only a person votes')
  const personAdmin = await adminOnly.token({ principal_id: 'pat', roles: ['admin'], kind: 'person' })
  t.equal((await adminOnly.vote('s2', 'approve', personAdmin)).statusCode, 200, 'an admin who is a person may')
})

t.test('quorum: two distinct approvers are needed; one deny ends it at once', async (t) => {
  const ctx = await approvalApp(t)
  const asked = await ctx.check(deploy('d1'))
  t.match(asked.approval, { approvals_required: 2, approvals_received: 0 })
  const one = await ctx.vote('d1', 'approve', ctx.tokens.alice)
  t.match(one.json(), { status: 'PENDING', approvals_received: 1 })
  const waiting = await ctx.check(deploy('d1'))
  t.equal(waiting.decision, 'REQUIRE_APPROVAL', 'one of two is not enough')
  t.equal(waiting.approval.approvals_received, 1)
  const two = await ctx.vote('d1', 'approve', ctx.tokens.bob)
  t.match(two.json(), { status: 'APPROVED', approvals_received: 2, resolution: { approvers: ['alice', 'bob'] } })
  t.equal(two.json().dispatch_by, new Date(ctx.clock.now().getTime() + 120_000).toISOString(), 'the rule\'s dispatch window')
  const go = await ctx.check(deploy('d1'))
  t.equal(go.decision, 'ALLOW')
  t.equal(go.reason, 'approved by alice, bob')

  await ctx.check(deploy('d2'))
  await ctx.vote('d2', 'approve', ctx.tokens.alice)
  const no = await ctx.vote('d2', 'deny', ctx.tokens.bob, { note: 'not during the freeze' })
  t.match(no.json(), { status: 'DENIED', approvals_received: 1 })
  t.equal((await ctx.vote('d2', 'approve', ctx.tokens.carol)).json().code, 'ARBITER_ERR_APPROVAL_CLOSED')
  const denied = await ctx.check(deploy('d2'))
  t.equal(denied.decision, 'DENY')
  t.match(denied.reason, /not during the freeze/)
  t.equal(await ctx.verify(), 14)
})

t.test('the strictest of several matching approval rules applies', async (t) => {
  const ctx = await approvalApp(t, {
    policies: {
      'p.yaml': `version: v1
rules:
  - id: loose
    match: { topics: ["job.deploy.*"] }
    decision: require_approval
    approval: { approvers: 1, ttl_sec: 7200 }
  - id: strict
    match: { topics: ["job.deploy.api"] }
    decision: require_approval
    approval: { approvers: 3, roles: [admin, reviewer], ttl_sec: 300, dispatch_window_sec: 60 }
`
    }
  })
  const sim = (await ctx.call('POST', '/check/simulate', ctx.tokens.scheduler, deploy('x'))).json()
  t.equal(sim.rule_id, 'loose', 'the first rule keeps the reason')
  t.same(sim.approval, { approvers: 3, roles: [['admin', 'reviewer'], ['reviewer']], ttl_sec: 300, dispatch_window_sec: 60 })
  const asked = await ctx.check(deploy('x'))
  t.equal(asked.approval.approvals_required, 3)
  t.equal(asked.approval.expires_at, new Date(ctx.clock.now().getTime() + 300_000).toISOString())
})

t.test('a job id with a live approval for another agent is not this key\'s to supersede; a denied variant leaves it be', async (t) => {
  const ctx = await approvalApp(t)
  const asked = await ctx.check(prodWrite('x1'))
  const other = await ctx.token({ principal_id: 'sched-2', roles: ['scheduler'], tenants: ['*'], agents: ['agent:other'] })
  const hijack = await ctx.check(prodWrite('x1', { principal_id: 'agent:other' }), other)
  t.equal(hijack.decision, 'DENY')
  t.match(hijack.reason, /live approval for another agent/)
  t.equal((await ctx.call('GET', '/approvals/x1', ctx.tokens.alice)).json().status, 'PENDING', 'untouched')

  const denied = await ctx.check(prodWrite('x1', { risk_tags: ['prod', 'destructive'] }))
  t.equal(denied.decision, 'DENY')
  t.equal((await ctx.call('GET', '/approvals/x1', ctx.tokens.alice)).json().status, 'PENDING', 'a denied variant does not invalidate the approval of the content it covers')
  await ctx.vote('x1', 'approve', ctx.tokens.alice, { job_hash: asked.job_hash })
  t.equal((await ctx.check(prodWrite('x1'))).approval_ref, asked.approval.approval_id)
})
