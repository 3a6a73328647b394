import t from 'tap'
import { grantCovers, hasRunOut, recheck, refusalReason, voteRefusal } from '../../src/approvals/lifecycle.js'
import { compilePolicy, evaluate, normalizeJob } from '../../src/policy/index.js'
import { approvalRequirement } from '../../src/policy/evaluate.js'
import type { ApprovalRow } from '../../src/store/approvals.js'

const need = approvalRequirement([{}])
const at = (s: number): Date => new Date(Date.UTC(2026, 0, 1) + s * 1000)
const row = (over: Partial<ApprovalRow>): ApprovalRow => ({
  approval_id: 'a', job_hash: 'h', status: 'PENDING', expires_at: at(60), dispatch_by: null, approvals_required: 1, approver_roles: [['reviewer']], resolution: null, requester_principal: 'sched', agent_principal: 'agent:x', ...over
} as unknown as ApprovalRow)

t.test('the requirement: defaults, and the strictest of several rules', async (t) => {
  t.same(need, { approvers: 1, roles: [['reviewer']], ttl_sec: 3600, dispatch_window_sec: 900 })
  t.same(approvalRequirement([{ approvers: 2, ttl_sec: 100 }, { roles: ['admin', 'reviewer'], dispatch_window_sec: 5 }, { roles: ['reviewer'] }]),
    { approvers: 2, roles: [['admin', 'reviewer'], ['reviewer']], ttl_sec: 100, dispatch_window_sec: 5 })
})

t.test('a policy whose default is require_approval asks with the default requirement; approval settings only on require_approval rules', async (t) => {
  const ok = compilePolicy([{ file: 'p.yaml', text: 'version: v1\ndefaults: { decision: require_approval }\nrules: []\n' }])
  t.ok(ok.ok)
  if (ok.ok) t.same(evaluate(ok.policy, normalizeJob({ job_id: 'j', topic: 'x' })).approval, need)
  const bad = compilePolicy([{ file: 'p.yaml', text: 'version: v1\nrules:\n  - id: r\n    match: {}\n    decision: allow\n    approval: { approvers: 2 }\n' }])
  t.notOk(bad.ok, 'approval settings on an allow rule are an error')
  const badRole = compilePolicy([{ file: 'p.yaml', text: 'version: v1\nrules:\n  - id: r\n    match: {}\n    decision: require_approval\n    approval: { roles: [scheduler] }\n' }])
  t.notOk(badRole.ok, 'schedulers cannot be approvers')
})

t.test('recheck: what the latest approval means for the same or a changed job', async (t) => {
  t.same(recheck(undefined, 'h', need, at(0)), { kind: 'request' })
  t.match(recheck(row({}), 'other', need, at(0)), { kind: 'request', supersede: { approval_id: 'a' } })
  t.same(recheck(row({ status: 'DENIED' }), 'other', need, at(0)), { kind: 'request' }, 'a changed job after a denial asks anew')
  t.equal(recheck(row({}), 'h', need, at(59)).kind, 'pending')
  t.equal(recheck(row({}), 'h', need, at(60)).kind, 'expire')
  t.equal(recheck(row({ status: 'APPROVED', dispatch_by: at(90) }), 'h', need, at(89)).kind, 'consume')
  t.equal(recheck(row({ status: 'APPROVED', dispatch_by: at(90) }), 'h', need, at(90)).kind, 'expire')
  t.equal(recheck(row({ status: 'CONSUMED' }), 'h', need, at(0)).kind, 'request')
  t.match(recheck(row({}), 'h', { ...need, approvers: 2 }, at(0)), { kind: 'request', invalidate: { approval_id: 'a' } })
  t.match(recheck(row({}), 'h', { ...need, roles: [['admin']] }, at(0)), { kind: 'request', invalidate: {} })
  t.equal(recheck(row({ approvals_required: 3 }), 'h', need, at(0)).kind, 'pending', 'an approval asking more than the policy still counts')
  t.match(recheck(row({ status: 'CANCELLED', resolution: { reason: 'gone' } }), 'h', need, at(0)), { kind: 'refused', reason: 'approval cancelled: gone' })
  t.equal(refusalReason(row({ status: 'DENIED', resolution: {} })), 'approval denied: no note')
  t.equal(refusalReason(row({ status: 'INVALIDATED', resolution: null })), 'approval invalidated')
  t.notOk(hasRunOut(row({ status: 'DENIED' }), at(1000)), 'only live approvals run out')
})

t.test('who may vote', async (t) => {
  const p = (principalId: string, roles: Array<'reviewer' | 'admin' | 'auditor'>, kind: 'person' | 'service' = 'person') =>
    ({ keyId: 'k', principalId, roles, tenants: ['*'], agents: [], kind })
  t.match(voteRefusal(row({}), p('sched', ['reviewer'])), /requested/)
  t.match(voteRefusal(row({}), p('agent:x', ['reviewer'])), /agent/)
  t.match(voteRefusal(row({}), p('amy', ['auditor'])), /needs the role reviewer/)
  t.equal(voteRefusal(row({}), p('amy', ['admin'])), null)
  t.equal(voteRefusal(row({ agent_principal: null }), p('amy', ['reviewer'])), null)
  t.match(voteRefusal(row({}), p('ci', ['reviewer'], 'service')), /service key/, 'a service key with the role, as one made before kinds')
  t.match(voteRefusal(row({}), p('admin', ['admin'], 'service')), /service key/, 'an admin service key holds every role, and still may not')
})

t.test('grant matches: topic globs, no tag, label or agent beyond the grant', async (t) => {
  const job = normalizeJob({ job_id: 'j', topic: 'job.write.ticket', risk_tags: ['prod'], labels: { env: 'prod' }, principal_id: 'agent:bot' })
  t.ok(grantCovers({ topics: ['job.write.*'], risk_tags: ['prod'] }, job))
  t.notOk(grantCovers({ topics: ['job.read.*'], risk_tags: ['prod'] }, job))
  t.notOk(grantCovers({ topics: ['job.write.*'] }, job), 'a tag the grant does not name')
  t.ok(grantCovers({ topics: ['job.**'], risk_tags: ['prod', 'pii'], labels: { env: 'prod' }, principals: ['agent:*'] }, job))
  t.notOk(grantCovers({ topics: ['job.**'], risk_tags: ['prod'], labels: { env: 'dev' } }, job))
  t.notOk(grantCovers({ topics: ['job.**'], risk_tags: ['prod'], principals: ['agent:other'] }, job))
  t.notOk(grantCovers({ topics: ['job.**'], risk_tags: ['prod'], principals: ['agent:*'] }, { ...job, principal_id: undefined }))
})
