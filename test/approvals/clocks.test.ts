import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { countRecords } from '../../src/store/log-read.js'
import { policyDir } from '../helpers.js'
import { approvalApp, deploy, POLICY, prodWrite } from '../fixtures/approvals.js'

t.test('a pending approval expires at its TTL: the check answers DENY and records the expiry; a late vote is refused', async (t) => {
  const ctx = await approvalApp(t)
  await ctx.check(prodWrite('e1'))
  await ctx.check(prodWrite('e2'))
  ctx.clock.advance(3599)
  t.equal((await ctx.check(prodWrite('e1'))).decision, 'REQUIRE_APPROVAL', 'a second before its TTL it still waits')
  ctx.clock.advance(1)
  const expired = await ctx.check(prodWrite('e1'))
  t.equal(expired.decision, 'DENY')
  t.equal(expired.reason, 'approval expired')
  t.equal(expired.approval.status, 'EXPIRED')
  t.equal((await ctx.check(prodWrite('e1'))).reason, 'approval expired', 'and stays expired')
  t.same((await ctx.call('GET', '/approvals', ctx.tokens.alice)).json().approvals, [], 'a run-out approval is not in the queue, swept or not')

  const late = await ctx.vote('e2', 'approve', ctx.tokens.alice)
  t.equal(late.statusCode, 409)
  t.match(late.json(), { code: 'ARBITER_ERR_APPROVAL_CLOSED', message: 'approval expired' })
  t.equal((await ctx.call('GET', '/approvals/e2', ctx.tokens.alice)).json().status, 'EXPIRED', 'the vote found it expired and recorded that')
  t.equal(await countRecords(ctx.db, 'approval.expired'), 2)
  t.equal(await countRecords(ctx.db, 'approval.vote'), 0, 'the late vote was not counted')
  t.equal(await ctx.verify(), 9)
})

t.test('an approved job must be dispatched within its window', async (t) => {
  const ctx = await approvalApp(t)
  await ctx.check(deploy('w1'))
  await ctx.vote('w1', 'approve', ctx.tokens.alice)
  await ctx.vote('w1', 'approve', ctx.tokens.bob)
  ctx.clock.advance(120)
  const late = await ctx.check(deploy('w1'))
  t.equal(late.decision, 'DENY')
  t.equal(late.reason, 'approval expired')
  t.match((await ctx.call('GET', '/approvals/w1', ctx.tokens.alice)).json(), { status: 'EXPIRED', resolution: { was: 'APPROVED' } })
})

t.test('the sweeper ends what nobody checks again, once', async (t) => {
  const ctx = await approvalApp(t)
  await ctx.check(prodWrite('s1'))
  await ctx.check(deploy('s2'))
  await ctx.vote('s2', 'approve', ctx.tokens.alice)
  await ctx.vote('s2', 'approve', ctx.tokens.bob)
  await ctx.check(prodWrite('s3'))
  ctx.clock.advance(600)
  t.equal(await ctx.app.approvals.sweep(1000), 1, 'the approved deploy ran out of its window')
  ctx.clock.advance(3000)
  t.equal(await ctx.app.approvals.sweep(1000), 2, 'the pending writes ran out of their TTL')
  t.equal(await ctx.app.approvals.sweep(1000), 0, 'nothing twice')
  const records = (await ctx.call('GET', '/traces/trace-s1', ctx.tokens.auditor)).json().entries
  t.match(records[records.length - 1], { type: 'approval.expired', actor: { system: 'arbiter-clock' }, approval_state: 'EXPIRED' })
  t.equal((await ctx.check(prodWrite('s1'))).reason, 'approval expired')
})

t.test('a policy change: a pending or approved job the new policy denies is invalidated; stricter approvers ask again', async (t) => {
  const dir = policyDir(t, { 'p.yaml': POLICY })
  const ctx = await approvalApp(t, { policyPath: dir, env: { POLICY_WATCH: 'false' } })
  const page = { topic: 'job.write.page' }
  await ctx.check(prodWrite('p1'))
  await ctx.check(prodWrite('p2', page))
  await ctx.vote('p2', 'approve', ctx.tokens.alice)
  await ctx.check(prodWrite('p3', page))

  writeFileSync(path.join(dir, 'p.yaml'), POLICY.replace('decision: require_approval\n    reason: Production writes', 'decision: require_approval\n    approval: { approvers: 2 }\n    reason: Production writes') +
    '  - id: freeze\n    match: { topics: ["job.write.ticket"] }\n    decision: deny\n    reason: change freeze\n')
  t.equal((await ctx.app.inject({ method: 'POST', url: '/policies/reload' })).statusCode, 200)

  const denied = await ctx.check(prodWrite('p1'))
  t.equal(denied.decision, 'DENY')
  t.equal(denied.reason, 'change freeze')
  t.match(denied.approval, { status: 'INVALIDATED' }, 'the pending approval no longer counts')
  t.equal((await ctx.vote('p1', 'approve', ctx.tokens.alice)).json().code, 'ARBITER_ERR_APPROVAL_CLOSED')

  const approved = await ctx.check(prodWrite('p2', page))
  t.equal(approved.decision, 'REQUIRE_APPROVAL', 'approved by one, but the policy now asks for two')
  t.equal(approved.approval.approvals_required, 2)
  t.equal((await ctx.call('GET', '/approvals?status=INVALIDATED', ctx.tokens.alice)).json().approvals.length, 2)
  t.equal((await ctx.check(prodWrite('p3', page))).approval.approvals_required, 2, 'likewise a pending one')
  t.equal(await ctx.verify(), 16)
})

t.test('the queue is bounded per tenant: past it, DENY "approval queue full"; the metrics show the queue', async (t) => {
  const ctx = await approvalApp(t, { env: { MAX_PENDING_APPROVALS: '2' } })
  await ctx.check(prodWrite('f1'))
  ctx.clock.advance(30)
  await ctx.check(prodWrite('f2'))
  const full = await ctx.check(prodWrite('f3'))
  t.equal(full.decision, 'DENY')
  t.equal(full.reason, 'approval queue full')
  t.equal((await ctx.check(prodWrite('f1'))).decision, 'REQUIRE_APPROVAL', 'what waits already still answers')
  t.equal((await ctx.check(prodWrite('f4', { tenant_id: 'other' }))).decision, 'REQUIRE_APPROVAL', 'another tenant has its own queue')
  ctx.clock.advance(15)
  const metrics = (await ctx.app.inject({ url: '/metrics' })).body
  t.match(metrics, /arbiter_approvals_pending\{tenant="default"\} 2/)
  t.match(metrics, /arbiter_approvals_pending\{tenant="other"\} 1/)
  t.match(metrics, /arbiter_approvals_oldest_pending_age_seconds\{tenant="default"\} 45/)
  await ctx.vote('f1', 'deny', ctx.tokens.alice, { note: 'no' })
  t.equal((await ctx.check(prodWrite('f3'))).decision, 'REQUIRE_APPROVAL', 'room again once one is resolved')
})

t.test('cancel: the scheduler abandons a job; its approval ends CANCELLED', async (t) => {
  const ctx = await approvalApp(t)
  await ctx.check(prodWrite('c1'))
  const cancelled = await ctx.call('POST', '/approvals/c1/cancel', ctx.tokens.scheduler, { reason: 'ticket closed by hand' })
  t.equal(cancelled.statusCode, 200)
  t.equal(cancelled.json().status, 'CANCELLED')
  t.equal((await ctx.call('POST', '/approvals/c1/cancel', ctx.tokens.scheduler, {})).json().code, 'ARBITER_ERR_APPROVAL_CLOSED')
  const after = await ctx.check(prodWrite('c1'))
  t.equal(after.decision, 'DENY')
  t.equal(after.reason, 'approval cancelled: ticket closed by hand')
  t.equal((await ctx.vote('c1', 'approve', ctx.tokens.alice)).statusCode, 409)

  await ctx.check(prodWrite('c2'))
  const otherAgent = await ctx.token({ principal_id: 'sched-2', roles: ['scheduler'], tenants: ['*'], agents: ['agent:other'] })
  t.equal((await ctx.call('POST', '/approvals/c2/cancel', otherAgent, {})).statusCode, 404, 'a key that may not speak for the agent sees no approval')
  t.equal((await ctx.call('POST', '/approvals/c2/cancel', ctx.tokens.alice, {})).statusCode, 403, 'reviewers vote; they do not cancel')
  t.equal((await ctx.call('POST', '/approvals/none/cancel', ctx.tokens.scheduler, {})).statusCode, 404)
  t.equal(await ctx.verify(), 6)
})

t.test('pending approvals survive a restart', async (t) => {
  const clockAt = { ms: Date.UTC(2026, 10, 25, 12) }
  const dataDir = policyDir(t, { 'p.yaml': POLICY })
  const first = await approvalApp(t, { policyPath: dataDir, clockAt })
  const asked = await first.check(prodWrite('r1'))
  await first.app.close()
  const second = await approvalApp(t, { policyPath: dataDir, clockAt, testDb: first.testDb })
  const again = await second.check(prodWrite('r1'))
  t.equal(again.approval.approval_id, asked.approval.approval_id)
  t.equal((await second.vote('r1', 'approve', second.tokens.alice)).statusCode, 200)
  t.equal((await second.check(prodWrite('r1'))).decision, 'ALLOW_WITH_CONSTRAINTS')
})

t.test('an approval invalidated for a stricter requirement while the queue is full asks again once there is room', async (t) => {
  const dir = policyDir(t, { 'p.yaml': POLICY })
  const ctx = await approvalApp(t, { policyPath: dir, env: { POLICY_WATCH: 'false', MAX_PENDING_APPROVALS: '1' } })
  await ctx.check(prodWrite('i1'))
  writeFileSync(path.join(dir, 'p.yaml'), POLICY.replace('decision: require_approval\n    reason: Production writes', 'decision: require_approval\n    approval: { approvers: 2 }\n    reason: Production writes'))
  t.equal((await ctx.app.inject({ method: 'POST', url: '/policies/reload' })).statusCode, 200)
  await ctx.check(prodWrite('i2', { tenant_id: 'other' }))
  const full = await ctx.check(prodWrite('i1'))
  t.equal(full.decision, 'REQUIRE_APPROVAL', 'the invalidated one made room for its successor')
  t.equal(full.approval.approvals_required, 2)
})
