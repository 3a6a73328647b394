import t from 'tap'
import { compilePolicy, formatProblem, type PolicyProblem } from '../../src/policy/index.js'
import { EXAMPLE_POLICY } from '../fixtures/policies.js'

function problems (files: Record<string, string>): PolicyProblem[] {
  const r = compilePolicy(Object.entries(files).map(([file, text]) => ({ file, text })))
  if (r.ok) throw new Error('expected the policy to fail')
  return r.problems
}

t.test('the example policy compiles with a stable snapshot id', async (t) => {
  const a = compilePolicy([{ file: 'a.yaml', text: EXAMPLE_POLICY }])
  const b = compilePolicy([{ file: 'b.yaml', text: '# a comment\n' + EXAMPLE_POLICY.replace('version: v1', 'version: "v1"') }])
  if (!a.ok || !b.ok) throw new Error('compile failed')
  t.match(a.policy.snapshotId, /^sha256:[0-9a-f]{64}$/)
  t.equal(a.policy.snapshotId, b.policy.snapshotId, 'comments, quoting and file names do not change the snapshot')
  t.equal(a.policy.rules.length, 4)
  t.equal(a.policy.defaults.decision, 'DENY', 'deny unless the policy says otherwise')
  t.ok(Object.isFrozen(a.policy) && Object.isFrozen(a.policy.rules[0]), 'compiled policies are immutable')
  const c = compilePolicy([{ file: 'a.yaml', text: EXAMPLE_POLICY.replace('max_retries: 1', 'max_retries: 2') }])
  if (!c.ok) throw new Error('compile failed')
  t.not(c.policy.snapshotId, a.policy.snapshotId, 'any semantic change changes the snapshot')
})

t.test('errors name file, line and rule, all at once', async (t) => {
  const found = problems({
    'a.yaml': `version: v1
rules:
  - id: good
    match: {}
    decision: allow
  - id: bad-constraint
    match: {}
    decision: allow
    constraints:
      max_runtime_sec: 10
      max_cpu: 3
  - id: bad-decision
    match: {}
    decision: maybe
`,
    'b.yaml': `version: v1
rules:
  - id: good
    match: { topics: [x] }
    decision: deny
  - id: no-constraints
    match: {}
    decision: allow_with_constraints
`,
    'c.yaml': 'version: v1\nrules:\n  - id: [unclosed\n'
  })
  const text = found.map(formatProblem)
  t.match(text, [
    /^a\.yaml:11: rule bad-constraint: rules\[1\]\.constraints has unknown field 'max_cpu'$/,
    /^a\.yaml:14: rule bad-decision: rules\[2\]\.decision must be one of: allow, deny/,
    /^b\.yaml:6: rule no-constraints: rules\[1\] is missing required field 'constraints'$/,
    /^c\.yaml:\d+: YAML syntax/
  ])
  t.equal(found.length, 4, 'every problem, not just the first; duplicates are checked once files parse')
})

t.test('several files form one policy; duplicate ids and second defaults are errors', async (t) => {
  const ok = compilePolicy([
    { file: 'a.yaml', text: 'version: v1\nrules:\n  - { id: one, match: {}, decision: allow }\n' },
    { file: 'b.yaml', text: 'version: v1\ndefaults: { decision: allow }\nrules:\n  - { id: two, match: {}, decision: deny }\n' }
  ])
  if (!ok.ok) throw new Error('compile failed')
  t.same(ok.policy.rules.map((r) => [r.id, r.file]), [['one', 'a.yaml'], ['two', 'b.yaml']])
  t.equal(ok.policy.defaults.decision, 'ALLOW')

  const text = problems({
    'a.yaml': 'version: v1\ndefaults: { decision: deny }\nrules:\n  - { id: one, match: {}, decision: allow }\n',
    'b.yaml': 'version: v1\ndefaults: { decision: allow }\nrules:\n  - id: one\n    match: {}\n    decision: deny\n'
  }).map(formatProblem)
  t.match(text, [/^b\.yaml:2: defaults is already set in a\.yaml/, /^b\.yaml:4: rule one: duplicate rule id \(first defined at a\.yaml:4\)/])
})

t.test('schema checks: versions, unknown fields, bad globs, constrained denials, empty policy', async (t) => {
  t.match(problems({ 'a.yaml': 'version: v2\nrules: []\n' }).map(formatProblem), [/version must be "v1"/])
  t.match(problems({ 'a.yaml': 'version: v1\nrules: []\nextra: 1\n' }).map(formatProblem), [/document has unknown field 'extra'/])
  t.match(problems({ 'a.yaml': 'version: v1\nrules:\n  - { id: g, match: { topics: ["a b"] }, decision: allow }\n' }).map(formatProblem), [/rules\[0\]\.match\.topics\[0\] must match pattern/])
  t.match(problems({ 'a.yaml': 'version: v1\nrules:\n  - { id: d, match: {}, decision: deny, constraints: { max_retries: 1 } }\n' }).map(formatProblem), [/must not carry constraints/])
  t.match(problems({ 'a.yaml': 'version: v1\nrules:\n  - { id: d, match: { tpoics: [x] }, decision: deny }\n' }).map(formatProblem), [/unknown field 'tpoics'/])
  t.match(problems({ 'a.yaml': '- just\n- a list\n' }).map(formatProblem), [/^a\.yaml:1: document must be object/])
  t.match(problems({}).map(formatProblem), [/no policy files found/])
})
