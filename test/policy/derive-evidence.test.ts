import t from 'tap'
import { compilePolicy, evaluate, formatProblem, normalizeJob, type CheckRequest, type CompiledPolicy } from '../../src/policy/index.js'

function compile (text: string): CompiledPolicy {
  const result = compilePolicy([{ file: 'p.yaml', text }])
  if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'))
  return result.policy
}

const decide = (policy: CompiledPolicy, request: Omit<CheckRequest, 'job_id'>) =>
  evaluate(policy, normalizeJob({ job_id: 'j', ...request }))

const DERIVE = compile(`version: v1
derive:
  - id: payments-writes-are-prod
    match: { topics: ["job.*.write.*"], tenants: [payments] }
    add: [prod]
  - id: destructive-commands
    match: { command_class: [destructive] }
    add: [destructive, prod]
  - id: oncall-label
    match: { labels: { env: production } }
    add: [prod]
rules:
  - id: allow-writes
    match: { topics: ["job.*.write.*"], risk_tags: [] }
    decision: allow
  - id: prod-writes-need-review
    match: { topics: ["job.*.write.*"], risk_tags: [prod] }
    decision: require_approval
  - id: allow-shell
    match: { topics: ["job.agent.exec.shell"] }
    decision: allow
  - id: deny-destructive
    match: { risk_tags: [destructive] }
    decision: deny
`)

t.test('a derived tag applies whatever the caller declares', async (t) => {
  const declaredNothing = decide(DERIVE, { topic: 'job.ledger.write.entry', tenant_id: 'payments' })
  t.equal(declaredNothing.decision, 'REQUIRE_APPROVAL', 'declaring no tags does not remove prod')
  t.same(declaredNothing.derived_tags, ['prod'])
  t.same(declaredNothing.matched_rules, ['prod-writes-need-review'], 'risk_tags: [] sees the derived tag too')

  const elsewhere = decide(DERIVE, { topic: 'job.ledger.write.entry', tenant_id: 'marketing' })
  t.equal(elsewhere.decision, 'ALLOW')
  t.same(elsewhere.derived_tags, [])

  const declaredToo = decide(DERIVE, { topic: 'job.ledger.write.entry', tenant_id: 'payments', risk_tags: ['prod'] })
  t.same(declaredToo.derived_tags, [], 'a tag already declared is not derived again')
  t.equal(declaredToo.decision, 'REQUIRE_APPROVAL')

  const byLabel = decide(DERIVE, { topic: 'job.crm.write.note', labels: { env: 'production' } })
  t.same(byLabel.derived_tags, ['prod'])
  t.equal(byLabel.decision, 'REQUIRE_APPROVAL')
})

t.test('derivation from the command class: a destructive command becomes a destructive job', async (t) => {
  const rm = decide(DERIVE, { topic: 'job.agent.exec.shell', command: 'rm -r build' })
  t.same(rm.derived_tags, ['destructive', 'prod'])
  t.equal(rm.decision, 'DENY')
  t.equal(rm.rule_id, 'deny-destructive')
  const ls = decide(DERIVE, { topic: 'job.agent.exec.shell', command: 'ls -la' })
  t.same(ls.derived_tags, [])
  t.equal(ls.decision, 'ALLOW')
})

const EVIDENCE = compile(`version: v1
rules:
  - id: schema-migrations
    match: { topics: ["job.db.migrate.*"] }
    decision: allow_with_constraints
    constraints: { max_runtime_sec: 600 }
    require_evidence: [blast_radius, validation]
  - id: bulk-delete
    match: { topics: ["job.db.purge.*"] }
    decision: allow
    require_evidence: [backup_id]
    on_missing_evidence: deny
  - id: throttled-with-evidence
    match: { topics: ["job.db.vacuum.*"] }
    decision: throttle
    require_evidence: [window]
`)

t.test('a job missing required evidence waits for a human, told what is missing', async (t) => {
  const bare = decide(EVIDENCE, { topic: 'job.db.migrate.users' })
  t.equal(bare.decision, 'REQUIRE_APPROVAL')
  t.equal(bare.rule_id, 'schema-migrations')
  t.match(bare.reason, /missing evidence: blast_radius, validation$/)
  t.same(bare.matches[0].missing_evidence, ['blast_radius', 'validation'])
  t.same(bare.constraints, { max_runtime_sec: 600 }, 'the rule\'s constraints still travel with the approval')
  t.same(bare.approval?.approvers, 1, 'the default approval requirement')

  const half = decide(EVIDENCE, { topic: 'job.db.migrate.users', evidence: { blast_radius: 'users table', validation: '' } })
  t.same(half.matches[0].missing_evidence, ['validation'], 'an empty value is no evidence')
  t.equal(half.decision, 'REQUIRE_APPROVAL')

  const empties = decide(EVIDENCE, { topic: 'job.db.migrate.users', evidence: { blast_radius: null, validation: [] } })
  t.same(empties.matches[0].missing_evidence, ['blast_radius', 'validation'], 'null and empty lists are no evidence either')

  const full = decide(EVIDENCE, { topic: 'job.db.migrate.users', evidence: { blast_radius: { rows: 12 }, validation: 'dry run passed', extra: 1 } })
  t.equal(full.decision, 'ALLOW_WITH_CONSTRAINTS')
  t.equal(full.reason, 'matched rule schema-migrations')
  t.equal(full.matches[0].missing_evidence, undefined)
})

t.test('per rule, missing evidence can deny instead', async (t) => {
  const bare = decide(EVIDENCE, { topic: 'job.db.purge.sessions' })
  t.equal(bare.decision, 'DENY')
  t.match(bare.reason, /missing evidence: backup_id/)
  t.equal(decide(EVIDENCE, { topic: 'job.db.purge.sessions', evidence: { backup_id: 'b-1' } }).decision, 'ALLOW')
  t.equal(decide(EVIDENCE, { topic: 'job.db.purge.sessions', evidence: { backup_id: 0 } }).decision, 'ALLOW', 'a number is evidence')
  const inherited = compile(`version: v1
rules:
  - id: odd-names
    match: {}
    decision: allow
    require_evidence: [constructor, toString]
    on_missing_evidence: deny
`)
  t.equal(decide(inherited, { topic: 'x', evidence: {} }).decision, 'DENY', 'what every object inherits is not evidence')
  t.equal(decide(inherited, { topic: 'x' }).decision, 'DENY')
  t.equal(decide(inherited, { topic: 'x', evidence: { constructor: 'c', toString: 't' } }).decision, 'ALLOW')
})

t.test('missing evidence never softens a stricter rule', async (t) => {
  const vacuum = decide(EVIDENCE, { topic: 'job.db.vacuum.all' })
  t.equal(vacuum.decision, 'THROTTLE', 'throttle is already stricter than require_approval')
  t.same(vacuum.matches[0].missing_evidence, ['window'])
})

t.test('the policy schema keeps the new fields where they make sense', async (t) => {
  const problems = (text: string): string[] => {
    const r = compilePolicy([{ file: 'p.yaml', text: `version: v1\n${text}` }])
    return r.ok ? [] : r.problems.map(formatProblem)
  }
  t.match(problems('rules:\n  - { id: a, match: {}, decision: allow, rate_limit: { max: 1, window_sec: 1, key: [topic] } }\n'), [/must not carry rate_limit or retry_after_sec/])
  t.match(problems('rules:\n  - { id: a, match: {}, decision: throttle, retry_after_sec: 5, rate_limit: { max: 1, window_sec: 1, key: [topic] } }\n'), [/must not carry retry_after_sec with a rate_limit/])
  t.match(problems('rules:\n  - { id: a, match: {}, decision: deny, require_evidence: [x] }\n'), [/must not require evidence/])
  t.match(problems('rules:\n  - { id: a, match: {}, decision: allow, on_missing_evidence: deny }\n'), [/must not carry on_missing_evidence/])
  t.match(problems('rules:\n  - { id: a, match: {}, decision: throttle, rate_limit: { max: 1, window_sec: 1, key: [nope] } }\n'), [/rate_limit\.key\[0\]/])
  t.match(problems('rules:\n  - { id: a, match: {}, decision: allow, approval: { approvers: 2 } }\n'), [/must not carry approval settings/])
  t.match(problems('rules:\n  - { id: a, match: {}, decision: throttle, require_evidence: [x], rate_limit: { max: 1, window_sec: 1, key: [topic] } }\n'), [/must not require evidence with a rate_limit/])
  t.match(problems('rules:\n  - { id: a, match: {}, decision: throttle, rate_limit: { max: 100001, window_sec: 1, key: [topic] } }\n'), [/rate_limit\.max must be <= 100000/])
  t.same(problems('rules:\n  - { id: a, match: {}, decision: allow, require_evidence: [x], approval: { approvers: 2 } }\n'), [], 'a rule that can require approval through missing evidence may say by whom')
  t.match(problems('derive:\n  - { id: d, match: { risk_tags: [a] }, add: [b] }\nrules: []\n'), [/has unknown field 'risk_tags'/])
  t.match(problems('derive:\n  - { id: same, match: {}, add: [b] }\nrules:\n  - { id: same, match: {}, decision: allow }\n'), [/duplicate rule id/])
  const twoFiles = compilePolicy([
    { file: 'a.yaml', text: 'version: v1\nshell: { protected_paths: [/srv] }\nrules: []\n' },
    { file: 'b.yaml', text: 'version: v1\nshell: { protected_paths: [/opt] }\nrules: []\n' }
  ])
  t.match(twoFiles.ok ? [] : twoFiles.problems.map(formatProblem), [/b\.yaml:2: shell is already set in a\.yaml/])
})

t.test('a policy without the new sections keeps its snapshot id', async (t) => {
  // The id of the example policy before derive, shell and output_rules existed.
  const plain = compile('version: v1\nrules:\n  - { id: a, match: {}, decision: allow }\n')
  const withEmptyDerive = compile('version: v1\nderive: []\nrules:\n  - { id: a, match: {}, decision: allow }\n')
  t.equal(plain.snapshotId, withEmptyDerive.snapshotId)
  const withShell = compile('version: v1\nshell: { protected_paths: [/srv] }\nrules:\n  - { id: a, match: {}, decision: allow }\n')
  t.not(plain.snapshotId, withShell.snapshotId, 'a shell section is part of the policy')
})
