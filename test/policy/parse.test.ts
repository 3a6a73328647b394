import t from 'tap'
import { formatProblem } from '../../src/policy/index.js'
import { nearestName, parsePolicyFile } from '../../src/policy/parse.js'

const problemsOf = (text: string): string[] => parsePolicyFile('p.yaml', text).problems.map(formatProblem)

t.test('an unknown key is reported at its own line, with the nearest valid name', async (t) => {
  t.same(problemsOf(`version: v1
rules:
  - id: prod-writes
    match:
      topics: ["job.*.write.*"]
      risk_tag: [prod]
    decision: require_approval
`), ["p.yaml:6: rule prod-writes: rules[0].match has unknown field 'risk_tag'; did you mean 'risk_tags'?"])

  t.same(problemsOf(`version: v1
rules:
  - { id: a, match: { tpoics: [x] }, decision: deny }
  - id: b
    match: {}
    decision: allow
    constraints:
      max_runtime_sec: 10

      max_cpu: 3
`), [
    "p.yaml:3: rule a: rules[0].match has unknown field 'tpoics'; did you mean 'topics'?",
    "p.yaml:10: rule b: rules[1].constraints has unknown field 'max_cpu'"
  ], 'flow style, a swap of letters, and no suggestion for a name nothing is close to')

  t.same(problemsOf('version: v1\nrule:\n  - { id: a, match: {}, decision: deny }\n'), [
    "p.yaml:1: document is missing required field 'rules'",
    "p.yaml:2: document has unknown field 'rule'; did you mean 'rules'?"
  ], 'a missing key is reported at its object')
})

t.test('a bad value, a bad item and a key a rule may not carry are reported at their lines', async (t) => {
  t.same(problemsOf(`version: v1
rules:
  - id: a
    match:
      topics:
        - ok
        - "not ok"
    decision: allow
  - id: b
    match: {}

    decision: maybe
  - id: c
    match: {}
    decision: deny
    reason: no
    rate_limit: { max: 1, window_sec: 1, key: [tenant_id] }
`), [
    'p.yaml:7: rule a: rules[0].match.topics[1] must match pattern "^[A-Za-z0-9_:*/@+-]+(\\.[A-Za-z0-9_:*/@+-]+)*$"',
    'p.yaml:12: rule b: rules[1].decision must be one of: allow, deny, require_approval, allow_with_constraints, throttle',
    'p.yaml:17: rule c: rules[2] must not carry rate_limit or retry_after_sec (only throttle rules can)'
  ])
})

t.test('nearestName suggests only a slip', async (t) => {
  const names = ['topics', 'risk_tags', 'tenants', 'principals', 'labels', 'command', 'command_class']
  t.equal(nearestName('risk_tag', names), 'risk_tags')
  t.equal(nearestName('tenant', names), 'tenants')
  t.equal(nearestName('commnad', names), 'command', 'a swap counts once')
  t.equal(nearestName('command_classes', names), 'command_class')
  t.equal(nearestName('tags', names), undefined, 'too far from risk_tags')
  t.equal(nearestName('ab', ['a', 'b']), undefined, 'a short name is never a slip')
  t.equal(nearestName('lables', [...names, 'tables']), 'labels', 'the closest wins; ties keep schema order')
})
