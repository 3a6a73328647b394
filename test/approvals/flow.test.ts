import { createHash } from 'node:crypto'
import t from 'tap'
import { countRecords } from '../../src/store/log-read.js'
import { approvalApp, prodWrite } from '../fixtures/approvals.js'

t.test('the flow: require approval, the queue, one item, approve, ALLOW with the ref, and the trace', async (t) => {
  const ctx = await approvalApp(t)
  const first = await ctx.check(prodWrite('w1', { evidence: { ticket: 'OPS-1', blast_radius: 'one ticket' } }))
  t.equal(first.decision, 'REQUIRE_APPROVAL')
  t.equal(first.rule_id, 'prod-write')
  t.match(first.approval, { status: 'PENDING', approvals_required: 1, approvals_received: 0, expires_at: new Date(Date.UTC(2026, 10, 25, 13)).toISOString(), approved_at: null })
  t.equal(first.policy_decision, 'REQUIRE_APPROVAL')

  const again = await ctx.check(prodWrite('w1', { evidence: { blast_radius: 'one ticket', ticket: 'OPS-1' } }))
  t.equal(again.decision, 'REQUIRE_APPROVAL')
  t.equal(again.approval.approval_id, first.approval.approval_id, 'the same job again: the same approval, not a second one')
  t.equal(await countRecords(ctx.db, 'approval.requested'), 1)

  const queue = await ctx.call('GET', '/approvals?include_resolved=false', ctx.tokens.alice)
  t.equal(queue.statusCode, 200)
  t.same(queue.json().approvals.map((a: { job_id: string }) => a.job_id), ['w1'])
  t.equal(queue.json().next_cursor, null)

  const item = await ctx.call('GET', '/approvals/w1', ctx.tokens.alice)
  t.equal(item.statusCode, 200)
  const shown = item.json()
  t.equal(shown.job_hash, first.job_hash)
  t.equal(`sha256:${createHash('sha256').update(shown.job_canonical).digest('hex')}`, first.job_hash, 'the job shown is exactly what was hashed')
  t.same(shown.evidence, { ticket: 'OPS-1', blast_radius: 'one ticket' })
  t.match(shown, { rule_id: 'prod-write', reason: 'Production writes need review', trace_id: 'trace-w1', requested_by: { principal_id: 'sched-1' }, votes: [], constraints: { max_runtime_sec: 60 }, approver_roles: [['reviewer']] })
  t.same(shown.job.args, { id: 42, fields: { status: 'closed' } })
  t.equal((await ctx.call('GET', '/approvals/w1', ctx.tokens.auditor)).statusCode, 200, 'auditors may look')
  t.equal((await ctx.vote('w1', 'approve', ctx.tokens.auditor)).statusCode, 403, 'but not vote')
  t.equal((await ctx.call('GET', '/approvals', ctx.tokens.scheduler)).statusCode, 403, 'schedulers do not read the queue')
  t.equal((await ctx.call('GET', '/approvals/w1', ctx.tokens.scheduler)).json().job_hash, first.job_hash, 'but read (and wait on) the approvals of their jobs: see wait.test.ts')

  const stale = await ctx.vote('w1', 'approve', ctx.tokens.alice, { job_hash: `sha256:${'0'.repeat(64)}`, note: 'ok' })
  t.equal(stale.statusCode, 409)
  t.equal(stale.json().code, 'ARBITER_ERR_STALE_JOB_HASH')
  const approved = await ctx.vote('w1', 'approve', ctx.tokens.alice, { job_hash: first.job_hash, note: 'checked the ticket' })
  t.equal(approved.statusCode, 200)
  t.match(approved.json(), { status: 'APPROVED', approvals_received: 1, approved_at: ctx.clock.now().toISOString(), dispatch_by: new Date(ctx.clock.now().getTime() + 900_000).toISOString() })
  t.match(approved.json().votes, [{ principal_id: 'alice', vote: 'APPROVE', note: 'checked the ticket' }])
  t.same((await ctx.call('GET', '/approvals', ctx.tokens.alice)).json().approvals, [], 'the queue is empty again')

  const allowed = await ctx.check(prodWrite('w1', { evidence: { ticket: 'OPS-1', blast_radius: 'one ticket' } }))
  t.equal(allowed.decision, 'ALLOW_WITH_CONSTRAINTS', 'allowed, with the constraints the rule attached')
  t.same(allowed.constraints, { max_runtime_sec: 60 })
  t.equal(allowed.approval_ref, first.approval.approval_id)
  t.equal(allowed.reason, 'approved by alice')
  t.equal(allowed.approval.status, 'CONSUMED')

  const rerun = await ctx.check(prodWrite('w1', { evidence: { ticket: 'OPS-1', blast_radius: 'one ticket' } }))
  t.equal(rerun.decision, 'REQUIRE_APPROVAL', 'an approval covers one dispatch: running the job again asks again')
  t.not(rerun.approval.approval_id, first.approval.approval_id)

  const trace = (await ctx.call('GET', '/traces/trace-w1', ctx.tokens.auditor)).json().entries
  t.same(trace.map((e: { type: string, approval_state: string | null }) => [e.type, e.approval_state]), [
    ['approval.requested', 'PENDING'], ['decision', 'PENDING'],
    ['decision', 'PENDING'],
    ['approval.vote', 'APPROVED'], ['approval.resolved', 'APPROVED'],
    ['approval.consumed', 'CONSUMED'], ['decision', 'CONSUMED'],
    ['approval.requested', 'PENDING'], ['decision', 'PENDING']
  ])
  t.match(trace[3], { actor: { principal_id: 'alice' } }, 'the vote names the reviewer from the token')
  t.equal(await ctx.verify(), trace.length, 'the log verifies')
})

t.test('a deny ends it with the note as the reason; a deny needs a note; the job stays denied', async (t) => {
  const ctx = await approvalApp(t)
  await ctx.check(prodWrite('w2'))
  const noNote = await ctx.vote('w2', 'deny', ctx.tokens.alice, {})
  t.equal(noNote.statusCode, 400)
  t.equal(noNote.json().code, 'ARBITER_ERR_VALIDATION')
  const denied = await ctx.vote('w2', 'reject', ctx.tokens.alice, { note: 'wrong ticket' })
  t.equal(denied.statusCode, 200)
  t.equal(denied.json().status, 'DENIED')
  t.match(denied.json().resolution, { note: 'wrong ticket', by: { principal_id: 'alice' } })
  const after = await ctx.check(prodWrite('w2'))
  t.equal(after.decision, 'DENY')
  t.match(after.reason, /wrong ticket/)
  t.equal(after.constraints, undefined, 'a denial carries no constraints')
  t.equal((await ctx.check(prodWrite('w2'))).decision, 'DENY', 'and stays denied')
  const late = await ctx.vote('w2', 'approve', ctx.tokens.bob)
  t.equal(late.statusCode, 409)
  t.equal(late.json().code, 'ARBITER_ERR_APPROVAL_CLOSED')
  t.equal((await ctx.vote('nope', 'approve', ctx.tokens.bob)).statusCode, 404)
  t.equal((await ctx.call('GET', '/approvals/w2?tenant_id=other', ctx.tokens.bob)).statusCode, 404, 'approvals are per tenant')
  t.equal(await ctx.verify(), 6)
})

t.test('the queue: filters, oldest first, cursor pages, tenant scope', async (t) => {
  const ctx = await approvalApp(t)
  for (const [i, tenant] of ['acme', 'globex', 'acme', 'acme'].entries()) {
    await ctx.check(prodWrite(`q${i}`, { tenant_id: tenant }))
    ctx.clock.advance(1)
  }
  await ctx.check({ job_id: 'd1', topic: 'job.deploy.api', principal_id: 'agent:bot', tenant_id: 'acme' })
  const page = async (url: string, token = ctx.tokens.alice): Promise<Record<string, any>> => (await ctx.call('GET', url, token)).json()
  t.same((await page('/approvals')).approvals.map((a: { job_id: string }) => a.job_id), ['q0', 'q1', 'q2', 'q3', 'd1'])
  t.same((await page('/approvals?tenant_id=acme&topic=job.write.ticket')).approvals.map((a: { job_id: string }) => a.job_id), ['q0', 'q2', 'q3'])
  const first = await page('/approvals?limit=2')
  t.equal(first.approvals.length, 2)
  const second = await page(`/approvals?limit=2&cursor=${String(first.next_cursor)}`)
  t.same(second.approvals.map((a: { job_id: string }) => a.job_id), ['q2', 'q3'])
  await ctx.vote('q0', 'deny', ctx.tokens.alice, { tenant_id: 'acme', note: 'no' })
  t.same((await page('/approvals?tenant_id=acme')).approvals.map((a: { job_id: string }) => a.job_id), ['q2', 'q3', 'd1'], 'resolved ones leave the queue')
  t.same((await page('/approvals?tenant_id=acme&include_resolved=true')).approvals.map((a: { job_id: string }) => a.job_id), ['q0', 'q2', 'q3', 'd1'])
  t.same((await page('/approvals?status=DENIED')).approvals.map((a: { job_id: string }) => a.job_id), ['q0'])
  const scoped = await ctx.token({ principal_id: 'globex-reviewer', roles: ['reviewer'], tenants: ['globex'] })
  t.same((await page('/approvals', scoped)).approvals.map((a: { job_id: string }) => a.job_id), ['q1'], 'a tenant-scoped reviewer sees its tenant only')
  t.equal((await ctx.vote('q2', 'approve', scoped, { tenant_id: 'acme' })).statusCode, 404, 'and cannot vote beyond it')
  for (const bad of ['/approvals?limit=0', '/approvals?limit=201', '/approvals?cursor=abc', '/approvals?status=MAYBE', '/approvals?include_resolved=yes', '/approvals?x=1']) {
    const res = await ctx.call('GET', bad, ctx.tokens.alice)
    t.equal(res.statusCode, 400, bad)
    t.equal(res.json().code, 'ARBITER_ERR_VALIDATION')
  }
})
