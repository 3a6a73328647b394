import t from 'tap'
import { lintCommand, testCommand, type Output } from '../../src/cli/policy.js'
import { EXAMPLE_POLICY } from '../fixtures/policies.js'
import { EXAMPLE_POLICY_DIR, policyDir } from '../helpers.js'
import path from 'node:path'

function capture (): Output & { lines: string[], errors: string[] } {
  const lines: string[] = []
  const errors: string[] = []
  return { lines, errors, out: (l) => lines.push(l), err: (l) => errors.push(l) }
}

t.test('lint: 0 for a good policy, 1 with every problem as file:line', async (t) => {
  const ok = capture()
  t.equal(await lintCommand(EXAMPLE_POLICY_DIR, ok), 0)
  t.match(ok.lines, [/^ok: 13 rule\(s\) in 2 file\(s\), snapshot sha256:[0-9a-f]{64}$/])
  t.same(ok.errors, [], 'the shipped policy has nothing easy to misread')

  const dir = policyDir(t, {
    'a.yaml': EXAMPLE_POLICY,
    'b.yaml': 'version: v1\nrules:\n  - id: deny-destructive\n    match: {}\n    decision: deny\n  - id: x\n    match: { topics: [a] }\n    decision: allow\n    constraints: { max_runtime_sec: 0 }\n'
  })
  const bad = capture()
  t.equal(await lintCommand(dir, bad), 1)
  t.match(bad.errors, [
    /^b\.yaml:9: rule x: rules\[1\]\.constraints\.max_runtime_sec must be >= 1$/,
    /problem\(s\); the policy does not load/
  ])
  const single = capture()
  t.equal(await lintCommand(path.join(dir, 'a.yaml'), single), 0, 'a single file can be linted')
})

t.test('lint: warns of rules whose meaning is easy to misread, and still passes', async (t) => {
  const dir = policyDir(t, {
    'p.yaml': `version: v1
rules:
  - id: allow-anything-destructive
    match: { topics: [a], command_class: [read_only, destructive] }
    decision: allow
  - id: review-reads
    match: { topics: [a], command_class: [read_only, write] }
    decision: require_approval
  - id: allow-reads-everywhere
    match: { command_class: [read_only] }
    decision: allow_with_constraints
    constraints: { max_runtime_sec: 5 }
  - id: allow-git-log
    match: { topics: [a], command: ["git log*", "git status"] }
    decision: allow
  - id: fine
    match: { topics: [a], command_class: [privileged, unknown] }
    decision: deny
  - id: fine-too
    match: { topics: [a], command_class: [read_only, network] }
    decision: allow
`
  })
  const io = capture()
  t.equal(await lintCommand(dir, io), 0)
  t.same(io.errors, [
    'warning: p.yaml: rule allow-anything-destructive: allows command lines whose simple commands are [destructive] without review',
    'warning: p.yaml: rule review-reads: matches every command line with one read_only part (nearly all of them): for a rule that is not an allow, command_class is any-of',
    'warning: p.yaml: rule allow-reads-everywhere: allows these commands on every topic, for every tenant and principal',
    "warning: p.yaml: rule allow-git-log: allow pattern 'git log*' also matches options that write or run programs (git log --output=…); command_class: [read_only] checks them"
  ])
  t.match(io.lines, [/^ok: 6 rule\(s\) in 1 file\(s\), snapshot sha256:[0-9a-f]{64}, 4 warning\(s\)$/])
})

t.test('test: the shipped suite passes against the shipped policy', async (t) => {
  const io = capture()
  t.equal(await testCommand(EXAMPLE_POLICY_DIR, io), 0, io.lines.join('\n'))
  t.match(io.lines.at(-1), /^policy cases: \d+ passed, 0 failed$/)
})

t.test('test: a wrong expectation fails and says what differed', async (t) => {
  const dir = policyDir(t, {
    'p.yaml': EXAMPLE_POLICY,
    'p.test.yaml': `cases:
  - name: right
    request: { job_id: a, topic: job.mcp-bridge.read.x }
    expect: { decision: ALLOW }
  - name: wrong decision
    request: { job_id: a, topic: job.mcp-bridge.read.x, risk_tags: [prod] }
    expect: { decision: ALLOW, rule_id: allow-low-risk-read }
  - name: wrong constraints
    request: { job_id: a, topic: job.agent.exec.x, risk_tags: [medium] }
    expect: { decision: ALLOW_WITH_CONSTRAINTS, constraints: { max_runtime_sec: 45 } }
  - name: wrong approvers
    request: { job_id: a, topic: job.mcp-bridge.write.x, risk_tags: [prod] }
    expect: { decision: REQUIRE_APPROVAL, approval: { approvers: 2, ttl_sec: 3600 } }
`
  })
  const io = capture()
  t.equal(await testCommand(dir, io), 1)
  t.match(io.lines.join('\n'), /ok {3}p\.test\.yaml: right/)
  t.match(io.lines.join('\n'), /FAIL p\.test\.yaml: wrong decision\n {7}decision: expected "ALLOW", got "DENY"\n {7}rule_id: expected "allow-low-risk-read", got null/)
  t.match(io.lines.join('\n'), /FAIL p\.test\.yaml: wrong constraints\n {7}constraints: expected \{"max_runtime_sec":45\}, got \{"max_retries":1,"max_runtime_sec":45\}/)
  t.match(io.lines.join('\n'), /FAIL p\.test\.yaml: wrong approvers\n {7}approval\.approvers: expected 2, got 1\n/)
  t.equal(io.lines.at(-1), 'policy cases: 1 passed, 3 failed')
})

t.test('test: malformed suites, missing suites and broken policies fail', async (t) => {
  const malformed = policyDir(t, { 'p.yaml': EXAMPLE_POLICY, 'p.test.yaml': 'cases:\n  - name: x\n    request: { topic: a }\n    expect: { decision: MAYBE }\n' })
  const io = capture()
  t.equal(await testCommand(malformed, io), 1)
  t.match(io.errors, [/p\.test\.yaml: not a valid test suite: .*job_id/])

  const none = policyDir(t, { 'p.yaml': EXAMPLE_POLICY })
  const io2 = capture()
  t.equal(await testCommand(none, io2), 1)
  t.match(io2.errors, [/no \*\.test\.yaml suites found/])

  const broken = policyDir(t, { 'p.yaml': 'version: v1\n' })
  const io3 = capture()
  t.equal(await testCommand(broken, io3), 1)
  t.match(io3.errors, [/p\.yaml:1: document is missing required field 'rules'/])
})
