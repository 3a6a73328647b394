import t from 'tap'
import type { ApprovalOutcome } from '../../src/approvals/on-check.js'
import type { SealedRecord } from '../../src/audit/chain.js'
import { decisionBody, decisionEntry, decisionResponse, decisionWithApproval, simulation, unrecordedDeny, type Prepared } from '../../src/decisions/decision.js'
import { compilePolicy, evaluate, jobHash, normalizeJob, type CompiledPolicy } from '../../src/policy/index.js'
import type { ApprovalRow } from '../../src/store/approvals.js'

const POLICY = `version: v1
rules:
  - id: prod-write
    match: { topics: ["job.write.*"] }
    decision: require_approval
    constraints: { max_runtime_sec: 60 }
`

function prepared (): Prepared {
  const compiled = compilePolicy([{ file: 'p.yaml', text: POLICY }])
  if (!compiled.ok) throw new Error('the test policy does not compile')
  const job = normalizeJob({ job_id: 'j1', topic: 'job.write.ticket', tenant_id: 'acme' })
  return { job, jobHash: jobHash(job), traceId: 'trace-1', policy: compiled.policy as CompiledPolicy }
}

const approval = { approval_id: 'a-1', status: 'CONSUMED', expires_at: new Date(0), approvals_required: 1, approvals_received: 1, approved_at: null, dispatch_by: null } as unknown as ApprovalRow

t.test('the policy\'s decision and what each approval outcome makes of it', async (t) => {
  const p = prepared()
  const policy = decisionBody(p, evaluate(p.policy, p.job), 'd-1')
  t.match(policy, { decision_id: 'd-1', job: p.job, job_hash: p.jobHash, decision: 'REQUIRE_APPROVAL', rule_id: 'prod-write', constraints: { max_runtime_sec: 60 }, policy_snapshot: p.policy.snapshotId })
  t.notOk('policy_decision' in policy)

  const made = (outcome: ApprovalOutcome): Record<string, unknown> => ({ ...decisionWithApproval(policy, outcome) })
  t.equal(decisionWithApproval(policy, { kind: 'unaffected' }), policy, 'unaffected: the policy\'s decision as it is')
  t.match(made({ kind: 'foreign' }), { decision: 'DENY', reason: 'job j1 has a live approval for another agent', constraints: undefined, policy_decision: 'REQUIRE_APPROVAL' }, 'foreign: denied, and marked as the policy asking for approval')
  t.match(made({ kind: 'invalidated', approval }), { decision: 'REQUIRE_APPROVAL', approval: { approval_id: 'a-1' }, approval_state: 'CONSUMED', policy_decision: undefined })
  t.match(made({ kind: 'pending', approval }), { decision: 'REQUIRE_APPROVAL', policy_decision: 'REQUIRE_APPROVAL', approval: { approval_id: 'a-1' } })
  t.match(made({ kind: 'approved', approval, approvers: ['alice', 'bob'] }), { decision: 'ALLOW_WITH_CONSTRAINTS', reason: 'approved by alice, bob', approval_ref: 'a-1', constraints: { max_runtime_sec: 60 } })
  t.match(made({ kind: 'approved', approval, approvers: undefined }), { reason: 'approved by reviewers' })
  t.match(made({ kind: 'granted', grantId: 'g-1' }), { decision: 'ALLOW_WITH_CONSTRAINTS', reason: 'pre-authorized by grant g-1', grant_ref: 'g-1', approval: undefined })
  t.match(made({ kind: 'refused', reason: 'approval expired', approval }), { decision: 'DENY', reason: 'approval expired', constraints: undefined, policy_decision: 'REQUIRE_APPROVAL', approval_state: 'CONSUMED' })
  const full = made({ kind: 'refused', reason: 'approval queue full' })
  t.notOk('approval' in full || 'approval_state' in full, 'no room to ask: no approval to show')
})

t.test('the record, the answer, the simulation and the unrecorded DENY', async (t) => {
  const p = prepared()
  const body = decisionWithApproval(decisionBody(p, evaluate(p.policy, p.job), 'd-1'), { kind: 'pending', approval })
  const stamp = { traceId: p.traceId, at: '2026-01-01T00:00:00.000Z', actor: { principal_id: 'sched-1' } }
  t.match(decisionEntry(body, stamp), { type: 'decision', tenant_id: 'acme', job_id: 'j1', trace_id: 'trace-1', at: stamp.at, actor: stamp.actor, body: { approval_state: 'CONSUMED', job: p.job } })

  const answer: Record<string, unknown> = { ...decisionResponse(body, stamp, { keyId: 'k1', mac: 'ab' } as SealedRecord) }
  t.notOk('job' in answer || 'approval_state' in answer, 'the job and the approval state are the record\'s only')
  t.match(answer, { decision_id: 'd-1', trace_id: 'trace-1', checked_at: stamp.at, signature: 'hmac-sha256:k1:ab' })

  t.match(simulation(p, evaluate(p.policy, p.job, { explain: true })), { decision: 'REQUIRE_APPROVAL', approval: { approvers: 1 }, recorded: false, trace_id: 'trace-1', matches: [{ rule_id: 'prod-write' }] })
  t.same(unrecordedDeny(p, 'the database is away'), {
    statusCode: 503,
    code: 'ARBITER_ERR_RECORD_UNAVAILABLE',
    error: 'Service Unavailable',
    message: 'decision could not be recorded: the database is away',
    decision: 'DENY',
    reason: 'decision could not be recorded: the database is away',
    trace_id: 'trace-1',
    job_hash: p.jobHash,
    policy_snapshot: p.policy.snapshotId
  })
})
