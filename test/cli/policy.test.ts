import t from 'tap'
import { readFileSync } from 'node:fs'
import type { Output } from '../../src/cli/output.js'
import { lintCommand, policyCommand, testCommand } from '../../src/cli/policy.js'
import { EXAMPLE_POLICY } from '../fixtures/policies.js'
import { EXAMPLE_POLICY_DIR, policyDir } from '../helpers.js'
import path from 'node:path'
import { parseXml } from '../policy/strict-xml.js'

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

const LIMITED = `version: v1
rules:
  - id: allow-notify
    match: { topics: ["job.notify.*"] }
    decision: allow
  - id: per-tenant
    match: { topics: ["job.notify.*"] }
    decision: throttle
    rate_limit: { max: 10, window_sec: 60, key: [tenant_id] }
  - id: per-principal
    match: { topics: ["job.notify.sms"] }
    decision: throttle
    rate_limit: { max: 2, window_sec: 30, key: [principal_id] }
  - id: no-spam
    match: { topics: ["job.notify.*"], risk_tags: [spam] }
    decision: deny
  - id: never-reached
    match: { topics: [other] }
    decision: allow
`
const LIMITED_CASES = `cases:
  - name: under the limit the throttle does not fire
    request: { job_id: a, topic: job.notify.mail }
    given: { admitted: 9 }
    expect: { decision: ALLOW, rule_id: allow-notify }
  - name: at the limit it throttles
    request: { job_id: a, topic: job.notify.mail }
    given: { admitted: 10 }
    expect: { decision: THROTTLE, rule_id: per-tenant }
  - name: counts per rule; a rule not named has admitted none
    request: { job_id: a, topic: job.notify.sms }
    given: { admitted: { per-principal: 2 } }
    expect: { decision: THROTTLE, rule_id: per-principal, matched_rules: [allow-notify, per-principal] }
  - name: a denied job is not admitted, so its limits are not read
    request: { job_id: a, topic: job.notify.mail, risk_tags: [spam] }
    given: { admitted: 100 }
    expect: { decision: DENY, rule_id: no-spam, matched_rules: [allow-notify, no-spam] }
  - name: a count for a rule that is not rate-limited is a mistake
    request: { job_id: a, topic: job.notify.mail }
    given: { admitted: { allow-notify: 1, nope: 1 } }
    expect: { decision: ALLOW }
`

t.test('test: given counts simulate a rate limit without a database; coverage names the rules no case reaches', async (t) => {
  const dir = policyDir(t, { 'p.yaml': LIMITED, 'p.test.yaml': LIMITED_CASES })
  const io = capture()
  t.equal(await testCommand(dir, io), 1)
  t.same(io.lines, [
    'ok   p.test.yaml: under the limit the throttle does not fire',
    'ok   p.test.yaml: at the limit it throttles',
    'ok   p.test.yaml: counts per rule; a rule not named has admitted none',
    'ok   p.test.yaml: a denied job is not admitted, so its limits are not read',
    'FAIL p.test.yaml: a count for a rule that is not rate-limited is a mistake',
    "       given.admitted: 'allow-notify' is not a rate-limited rule of the policy",
    "       given.admitted: 'nope' is not a rate-limited rule of the policy",
    'coverage: 4 of 5 rule(s) decide a case; no case reaches:',
    '       never-reached (p.yaml)',
    'policy cases: 4 passed, 1 failed'
  ])
  t.same(io.errors, [])

  const bad = policyDir(t, { 'p.yaml': LIMITED, 'p.test.yaml': 'cases:\n  - { name: x, request: { job_id: a, topic: b }, given: { admitted: -1 }, expect: { decision: DENY } }\n' })
  const io2 = capture()
  t.equal(await testCommand(bad, io2), 1)
  t.match(io2.errors, [/p\.test\.yaml: not a valid test suite: \/cases\/0\/given\/admitted/])

  const full = capture()
  t.equal(await testCommand(EXAMPLE_POLICY_DIR, full), 0)
  t.match(full.lines.at(-3), /^coverage: \d+ of 13 rule\(s\) decide a case/)
})

t.test('test --format junit: one testsuite per suite file, one testcase per case, failures with their messages', async (t) => {
  const dir = policyDir(t, {
    'p.yaml': LIMITED,
    'p.test.yaml': LIMITED_CASES.replace('expect: { decision: ALLOW }', 'expect: { decision: DENY, rule_id: "<&\'\\"> \\u0001" }'),
    'q.test.yaml': 'cases: 3\n'
  })
  const io = capture()
  t.equal(await policyCommand(['test', dir, '--format', 'junit'], io), 1)
  t.equal(io.lines.length, 1, 'stdout holds the report alone')
  t.match(io.errors, [/q\.test\.yaml: not a valid test suite/, /^ok {3}p\.test\.yaml: under the limit/])
  const doc = parseXml(io.lines[0])
  t.match(doc, { name: 'testsuites', attrs: { tests: '6', failures: '2' } })
  t.same(doc.children.map((s) => [s.name, s.attrs]), [
    ['testsuite', { name: 'p.test.yaml', tests: '5', failures: '1', errors: '0' }],
    ['testsuite', { name: 'q.test.yaml', tests: '1', failures: '0', errors: '1' }]
  ])
  const cases = doc.children[0].children
  t.same(cases.map((c) => c.attrs.name), [
    'under the limit the throttle does not fire', 'at the limit it throttles', 'counts per rule; a rule not named has admitted none',
    'a denied job is not admitted, so its limits are not read', 'a count for a rule that is not rate-limited is a mistake'
  ])
  t.same(cases[1].children.map((c) => [c.name, c.text]), [['system-out', 'decided by rule per-tenant']])
  const failure = cases[4].children.find((c) => c.name === 'failure')
  t.equal(failure?.attrs.message, "given.admitted: 'allow-notify' is not a rate-limited rule of the policy")
  t.equal(failure?.text.split('\n').at(-1), 'rule_id: expected "<&\'\\"> \\u0001", got "allow-notify"', 'escaped, and read back exactly')
  t.match(doc.children[1].children[0], { name: 'testcase', attrs: { name: '(suite)' }, children: [{ name: 'error', attrs: { message: /not a valid test suite/ } }] })

  const out = path.join(dir, 'report.xml')
  const toFile = capture()
  t.equal(await policyCommand(['test', dir, path.join(dir, 'p.test.yaml'), '--format', 'junit', '--out', out], toFile), 1)
  t.match(toFile.lines.at(-1), /^policy cases: 4 passed, 1 failed$/, 'with --out the usual lines stay on stdout')
  t.match(parseXml(readFileSync(out, 'utf8')), { attrs: { tests: '5', failures: '1' } })
})

t.test('test --format json: the same content, and the coverage', async (t) => {
  const dir = policyDir(t, { 'p.yaml': LIMITED, 'p.test.yaml': LIMITED_CASES })
  const io = capture()
  t.equal(await policyCommand(['test', dir, '--format', 'json'], io), 1)
  const report = JSON.parse(io.lines.join('\n'))
  t.match(report, { snapshot: /^sha256:/, passed: 4, failed: 1, suites: [{ file: 'p.test.yaml' }] })
  t.same(report.suites[0].cases[1], { name: 'at the limit it throttles', passed: true, rule_id: 'per-tenant', failures: [] })
  t.same(report.suites[0].cases[4].passed, false)
  t.same(report.coverage.map((c: { rule: string, cases: number }) => [c.rule, c.cases]), [
    ['allow-notify', 2], ['per-tenant', 1], ['per-principal', 1], ['no-spam', 1], ['never-reached', 0]
  ])
})

t.test('policy: misuse is exit 2 with the usage', async (t) => {
  for (const args of [[], ['lint'], ['lint', 'x', '--format', 'json'], ['test', 'x', '--format', 'xml'], ['test', 'x', '--out', 'f'], ['test', 'x', '--bogus'], ['frob', 'x']]) {
    const io = capture()
    t.equal(await policyCommand(args, io), 2, args.join(' '))
    t.match(io.errors.at(-1), /arbiter policy test PATH/)
  }
  const io = capture()
  t.equal(await policyCommand(['lint', EXAMPLE_POLICY_DIR], io), 0)
  const help = capture()
  t.equal(await policyCommand(['test', '--help'], help), 0)
  t.match(help.lines, [/^usage:/])
})

t.test('lint: an unknown key at its own line, with a suggestion; the traps of throttles and shadowed rules', async (t) => {
  const typo = policyDir(t, { 'p.yaml': 'version: v1\nrules:\n  - id: prod\n    match:\n      topics: [a]\n      risk_tag: [prod]\n    decision: deny\n' })
  const io = capture()
  t.equal(await lintCommand(typo, io), 1)
  t.equal(io.errors[0], "p.yaml:6: rule prod: rules[0].match has unknown field 'risk_tag'; did you mean 'risk_tags'?")

  const traps = policyDir(t, { 'p.yaml': LIMITED.replace(/ {2}- id: allow-notify\n.*\n.*\n/, '') + '  - { id: again, match: { topics: [other] }, decision: allow }\n' })
  const io2 = capture()
  t.equal(await lintCommand(traps, io2), 0)
  t.match(io2.errors, [
    /^warning: p\.yaml: rule per-tenant: under its limit \(10 per 60 s\) this throttle does not match/,
    /^warning: p\.yaml: rule per-principal: under its limit \(2 per 30 s\)/,
    /^warning: p\.yaml: rule again: can never decide: earlier rule never-reached has the same match/
  ])
  t.match(io2.lines, [/, 3 warning\(s\)$/])
})
