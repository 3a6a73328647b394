import t from 'tap'
import { compilePolicy, evaluate, normalizeJob, type CheckRequest, type CompiledPolicy } from '../../src/policy/index.js'
import { EXAMPLE_POLICY } from '../fixtures/policies.js'

function compile (text: string): CompiledPolicy {
  const result = compilePolicy([{ file: 'p.yaml', text }])
  if (!result.ok) throw new Error(JSON.stringify(result.problems))
  return result.policy
}

const decide = (policy: CompiledPolicy, request: Omit<CheckRequest, 'job_id'>) =>
  evaluate(policy, normalizeJob({ job_id: 'j', ...request }))

t.test('the example policy behaves as its names say', async (t) => {
  const p = compile(EXAMPLE_POLICY)
  const read = decide(p, { topic: 'job.mcp-bridge.read.ticket' })
  t.equal(read.decision, 'ALLOW')
  t.equal(read.rule_id, 'allow-low-risk-read')
  t.notOk('constraints' in read && read.constraints !== undefined)

  const taggedRead = decide(p, { topic: 'job.mcp-bridge.read.ticket', risk_tags: ['low'] })
  t.equal(taggedRead.decision, 'DENY', 'a read carrying risk tags does not match the read rule')
  t.equal(taggedRead.rule_id, null)
  t.same(taggedRead.matched_rules, [])

  const write = decide(p, { topic: 'job.mcp-bridge.write.ticket', risk_tags: ['prod'] })
  t.equal(write.decision, 'REQUIRE_APPROVAL')
  t.equal(write.reason, 'Production writes require human review')

  const destructive = decide(p, { topic: 'job.mcp-bridge.write.ticket', risk_tags: ['prod', 'destructive'] })
  t.equal(destructive.decision, 'DENY', 'a destructive prod write is denied')
  t.equal(destructive.rule_id, 'deny-destructive')
  t.same(destructive.matched_rules, ['require-approval-prod-write', 'deny-destructive'])

  const exec = decide(p, { topic: 'job.agent.exec.shell', risk_tags: ['medium'] })
  t.equal(exec.decision, 'ALLOW_WITH_CONSTRAINTS')
  t.same(exec.constraints, { max_runtime_sec: 45, max_retries: 1 })

  const unknown = decide(p, { topic: 'job.other' })
  t.equal(unknown.decision, 'DENY')
  t.equal(unknown.rule_id, null)
  t.match(unknown.reason, /default/)
})

t.test('topic globs: * stays within a segment, ** crosses segments', async (t) => {
  const p = compile(`version: v1
defaults: { decision: deny }
rules:
  - { id: one, match: { topics: ["a.*.c"] }, decision: allow }
  - { id: deep, match: { topics: ["x.**"] }, decision: allow }
  - { id: mid, match: { topics: ["m.*x*.n"] }, decision: allow }
  - { id: exact, match: { topics: ["lit.eral"] }, decision: allow }
`)
  t.equal(decide(p, { topic: 'a.b.c' }).rule_id, 'one')
  t.equal(decide(p, { topic: 'a.b.b.c' }).rule_id, null)
  t.equal(decide(p, { topic: 'x.y' }).rule_id, 'deep')
  t.equal(decide(p, { topic: 'x.y.z.w' }).rule_id, 'deep')
  t.equal(decide(p, { topic: 'x' }).rule_id, null, 'x.** needs at least one more segment')
  t.equal(decide(p, { topic: 'm.axb.n' }).rule_id, 'mid')
  t.equal(decide(p, { topic: 'm.ab.n' }).rule_id, null)
  t.equal(decide(p, { topic: 'lit.eral' }).rule_id, 'exact')
  t.equal(decide(p, { topic: 'lit.eral.more' }).rule_id, null)
  t.equal(decide(p, { topic: 'litXeral' }).rule_id, null, 'a dot in a glob is literal, not a regex wildcard')
})

t.test('risk_tags: omitted means any, [] means none, a list means any-of', async (t) => {
  const p = compile(`version: v1
rules:
  - { id: none, match: { topics: [t.none], risk_tags: [] }, decision: allow }
  - { id: anyof, match: { topics: [t.anyof], risk_tags: [a, b] }, decision: allow }
  - { id: any, match: { topics: [t.any] }, decision: allow }
`)
  t.equal(decide(p, { topic: 't.none' }).decision, 'ALLOW')
  t.equal(decide(p, { topic: 't.none', risk_tags: ['x'] }).decision, 'DENY')
  t.equal(decide(p, { topic: 't.anyof', risk_tags: ['b'] }).decision, 'ALLOW')
  t.equal(decide(p, { topic: 't.anyof', risk_tags: ['c', 'a'] }).decision, 'ALLOW')
  t.equal(decide(p, { topic: 't.anyof', risk_tags: ['c'] }).decision, 'DENY')
  t.equal(decide(p, { topic: 't.anyof' }).decision, 'DENY')
  t.equal(decide(p, { topic: 't.any', risk_tags: ['whatever'] }).decision, 'ALLOW')
  t.equal(decide(p, { topic: 't.any' }).decision, 'ALLOW')
})

t.test('tenants, principals and labels must all hold', async (t) => {
  const p = compile(`version: v1
rules:
  - id: scoped
    match:
      topics: ["job.**"]
      tenants: ["acme-*"]
      principals: ["agent:*"]
      labels: { env: [staging, dev], team: core }
    decision: allow
`)
  const ok = { topic: 'job.x', tenant_id: 'acme-eu', principal_id: 'agent:bot', labels: { env: 'dev', team: 'core' } }
  t.equal(decide(p, ok).decision, 'ALLOW')
  t.equal(decide(p, { ...ok, tenant_id: 'other' }).decision, 'DENY')
  t.equal(decide(p, { ...ok, principal_id: 'human:bob' }).decision, 'DENY')
  t.equal(decide(p, { ...ok, principal_id: undefined }).decision, 'DENY', 'no principal never matches a principal rule')
  t.equal(decide(p, { ...ok, labels: { env: 'prod', team: 'core' } }).decision, 'DENY')
  t.equal(decide(p, { ...ok, labels: { env: 'dev' } }).decision, 'DENY', 'a missing label does not match')
  t.equal(decide(p, { ...ok, tenant_id: undefined }).decision, 'DENY', 'the default tenant is "default"')
})

t.test('the most restrictive matching rule wins; ties go to the first in file order', async (t) => {
  const p = compile(`version: v1
rules:
  - { id: allow-all, match: {}, decision: allow }
  - { id: c1, match: { topics: [j.c] }, decision: allow, constraints: { max_runtime_sec: 60, allowed_paths: [/a, /b, /c], network_allowlist: [x.com] } }
  - { id: c2, match: { topics: [j.c] }, decision: allow_with_constraints, reason: second, constraints: { max_runtime_sec: 30, max_retries: 3, allowed_paths: [/b, /c, /d] } }
  - { id: ra1, match: { topics: [j.ra] }, decision: require_approval, reason: first approval }
  - { id: ra2, match: { topics: [j.ra] }, decision: require_approval, reason: second approval, constraints: { max_retries: 0 } }
  - { id: th, match: { topics: [j.th] }, decision: throttle }
  - { id: late-deny, match: { topics: [j.deny] }, decision: deny }
`)
  const c = decide(p, { topic: 'j.c' })
  t.equal(c.decision, 'ALLOW_WITH_CONSTRAINTS', 'an allow rule with constraints answers ALLOW_WITH_CONSTRAINTS')
  t.equal(c.rule_id, 'c1')
  t.same(c.constraints, { max_runtime_sec: 30, max_retries: 3, allowed_paths: ['/b', '/c'], network_allowlist: ['x.com'] }, 'constraints merge to the tightest')
  t.same(c.matched_rules, ['allow-all', 'c1', 'c2'])

  const ra = decide(p, { topic: 'j.ra' })
  t.equal(ra.decision, 'REQUIRE_APPROVAL')
  t.equal(ra.reason, 'first approval')
  t.same(ra.constraints, { max_retries: 0 }, 'constraints travel with REQUIRE_APPROVAL')

  t.equal(decide(p, { topic: 'j.th' }).decision, 'THROTTLE')
  const deny = decide(p, { topic: 'j.deny' })
  t.equal(deny.decision, 'DENY', 'an earlier allow cannot shadow a deny')
  t.equal(deny.constraints, undefined)
  const plain = decide(p, { topic: 'j.other' })
  t.equal(plain.decision, 'ALLOW')
  t.equal(plain.constraints, undefined)
})

t.test('defaults decide when nothing matches', async (t) => {
  const p = compile(`version: v1
defaults: { decision: require_approval, reason: ask a human }
rules: []
`)
  const ev = decide(p, { topic: 'x' })
  t.equal(ev.decision, 'REQUIRE_APPROVAL')
  t.equal(ev.reason, 'ask a human')
  t.equal(ev.rule_id, null)
})

t.test('explain says why each rule matched', async (t) => {
  const p = compile(EXAMPLE_POLICY)
  const ev = evaluate(p, normalizeJob({ job_id: 'j', topic: 'job.mcp-bridge.write.x', risk_tags: ['prod', 'destructive'] }), { explain: true })
  t.same(ev.matches.map((m) => m.rule_id), ['require-approval-prod-write', 'deny-destructive'])
  t.match(ev.matches[0].why, [/topic 'job.mcp-bridge.write.x' matches 'job.mcp-bridge.write.\*'/, /risk tag 'prod'/])
  t.equal(evaluate(p, normalizeJob({ job_id: 'j', topic: 'job.x' })).matches.length, 0)
  t.equal(evaluate(p, normalizeJob({ job_id: 'j', topic: 'job.mcp-bridge.read.a' })).matches[0].why, undefined, 'no explanation unless asked')
})

t.test('evaluation is deterministic', async (t) => {
  const p = compile(EXAMPLE_POLICY)
  const req = { topic: 'job.agent.exec.shell', risk_tags: ['medium', 'prod'] }
  t.equal(JSON.stringify(decide(p, req)), JSON.stringify(decide(p, req)))
})
