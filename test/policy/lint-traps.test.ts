import t from 'tap'
import { compilePolicy, lintPolicy } from '../../src/policy/index.js'

function warnings (files: Record<string, string>): string[] {
  const r = compilePolicy(Object.entries(files).map(([file, text]) => ({ file, text: `version: v1\n${text}` })))
  if (!r.ok) throw new Error(JSON.stringify(r.problems))
  return lintPolicy(r.policy).map((w) => `${w.file}: ${w.rule}: ${w.message}`)
}

const THROTTLE = `  - id: throttle
    match: { topics: ["job.notify.*"], risk_tags: [bulk], labels: { channel: [sms] } }
    decision: throttle
    rate_limit: { max: 10, window_sec: 60, key: [tenant_id] }
`

t.test('a rate-limited throttle with no allow for its jobs leaves them to the default', async (t) => {
  const alone = warnings({ 'p.yaml': `rules:\n${THROTTLE}` })
  t.same(alone, [
    'p.yaml: throttle: under its limit (10 per 60 s) this throttle does not match, so a job falls through to the other rules ' +
    'that match it, and to the default (deny) when none does; no allow rule matches every job it throttles, so jobs under ' +
    'the limit can get deny. Add an allow (or allow_with_constraints) rule with the same match'
  ])
  t.match(warnings({ 'p.yaml': `defaults: { decision: require_approval }\nrules:\n${THROTTLE}` }), [/to the default \(require_approval\)/])
  t.same(warnings({ 'p.yaml': `defaults: { decision: allow }\nrules:\n${THROTTLE}` }), [], 'the default lets them through')
  t.same(warnings({ 'p.yaml': 'rules:\n  - { id: always, match: { topics: [a] }, decision: throttle }\n' }), [], 'a throttle without a rate limit always fires')

  const covering = [
    ['the same match', '{ topics: ["job.notify.*"], risk_tags: [bulk], labels: { channel: [sms] } }'],
    ['fewer fields', '{ topics: ["job.notify.*"] }'],
    ['wider globs', '{ topics: ["job.*.*"] }'],
    ['a ** prefix', '{ topics: ["job.**"] }'],
    ['more tags and label values', '{ risk_tags: [bulk, other], labels: { channel: [sms, email] } }'],
    ['nothing at all', '{}']
  ]
  for (const [what, match] of covering) {
    t.same(warnings({ 'p.yaml': `rules:\n${THROTTLE}  - { id: allow, match: ${match}, decision: allow }\n` }), [], `an allow with ${what} covers it`)
  }
  t.same(warnings({ 'a.yaml': `rules:\n${THROTTLE}`, 'b.yaml': 'rules:\n  - { id: allow, match: { topics: ["job.notify.*"] }, decision: allow_with_constraints, constraints: { max_retries: 1 } }\n' }), [],
    'an allow_with_constraints in another file, after it, covers it too')

  const partial = [
    ['a narrower topic', '{ topics: ["job.notify.email"] }'],
    ['another topic', '{ topics: ["job.mail.*"] }'],
    ['other tags', '{ risk_tags: [other] }'],
    ['no tags at all', '{ risk_tags: [] }'],
    ['fewer label values', '{ labels: { channel: [email] } }'],
    ['a label the throttle does not ask for', '{ labels: { region: [eu] } }'],
    ['a tenant', '{ tenants: [acme] }'],
    ['a command', '{ command: ["curl *"] }']
  ]
  for (const [what, match] of partial) {
    t.match(warnings({ 'p.yaml': `rules:\n${THROTTLE}  - { id: allow, match: ${match}, decision: allow }\n` }), [/^p\.yaml: throttle: under its limit/], `an allow with ${what} does not cover it`)
  }
  t.match(warnings({ 'p.yaml': `rules:\n${THROTTLE}  - { id: review, match: {}, decision: require_approval }\n` }), [/under its limit/], 'only an allow counts')
})

t.test('globs, tags and commands: what covers what', async (t) => {
  const throttle = (match: string): string => `  - id: t\n    match: ${match}\n    decision: throttle\n    rate_limit: { max: 1, window_sec: 1, key: [topic] }\n`
  const covered = (allow: string, match: string): boolean =>
    warnings({ 'p.yaml': `rules:\n${throttle(match)}  - { id: a, match: ${allow}, decision: allow }\n` }).every((w) => !w.includes('under its limit'))
  t.ok(covered('{ topics: ["job.**"] }', '{ topics: ["job.notify.**"] }'))
  t.notOk(covered('{ topics: ["job.*"] }', '{ topics: ["job.**"] }'), '* does not cover **')
  t.notOk(covered('{ topics: ["j*.**"] }', '{ topics: ["job.**"] }'), 'a ** glob with a wildcard before it is not compared')
  t.ok(covered('{ topics: ["**"] }', '{ topics: ["a.**"] }'))
  t.notOk(covered('{ topics: ["job.a*"] }', '{ topics: ["job.*"] }'))
  t.ok(covered('{ risk_tags: [] }', '{ risk_tags: [] }'))
  t.notOk(covered('{ risk_tags: [a] }', '{}'), 'a throttle on every job is covered only by an allow on every job')
  t.notOk(covered('{ topics: [a] }', '{}'))
  t.ok(covered('{ command: ["curl *", "wget *"], command_class: [network, read_only] }', '{ command: ["curl *"], command_class: [network] }'),
    'an allow listing at least the same patterns and classes')
  t.notOk(covered('{ command_class: [network] }', '{}'))
  t.notOk(covered('{ command_class: [read_only] }', '{ command_class: [network] }'))
})

t.test('a rule an earlier rule with the same match always outranks can never decide', async (t) => {
  const rule = (id: string, decision: string, extra = '', match = '{ topics: [a, b], risk_tags: [x] }'): string =>
    `  - { id: ${id}, match: ${match}, decision: ${decision}${extra} }\n`
  t.same(warnings({ 'p.yaml': `rules:\n${rule('deny', 'deny')}${rule('allow', 'allow', '', '{ risk_tags: [x], topics: [b, a] }')}` }), [
    'p.yaml: allow: can never decide: earlier rule deny has the same match and always answers DENY, which ALLOW does not outrank'
  ], 'the order of a list does not matter')
  t.same(warnings({ 'a.yaml': `rules:\n${rule('first', 'allow')}`, 'b.yaml': `rules:\n${rule('second', 'allow')}` }), [
    'b.yaml: second: can never decide: earlier rule first (a.yaml) has the same match and always answers ALLOW, which ALLOW does not outrank'
  ], 'among equals the first decides')
  t.match(warnings({ 'p.yaml': `rules:\n${rule('review', 'require_approval')}${rule('allow', 'allow_with_constraints', ', constraints: { max_retries: 1 }')}` }),
    [], 'an allow_with_constraints still adds its constraints to a review')
  t.match(warnings({ 'p.yaml': `rules:\n${rule('deny', 'deny')}${rule('allow', 'allow_with_constraints', ', constraints: { max_retries: 1 }')}` }),
    [/allow: can never decide: earlier rule deny/], 'nothing is added to a deny')

  const none: Array<[string, string]> = [
    ['a stricter later rule', rule('allow', 'allow') + rule('deny', 'deny')],
    ['a different match', rule('deny', 'deny') + rule('allow', 'allow', '', '{ topics: [a], risk_tags: [x] }')],
    ['another review (its approval settings count)', rule('r1', 'require_approval') + rule('r2', 'require_approval', ', approval: { approvers: 2 }')],
    ['missing evidence that can deny', rule('allow', 'allow') + rule('evidence', 'allow', ', require_evidence: [ticket], on_missing_evidence: deny')],
    ['missing evidence that sends for review', rule('allow', 'allow') + rule('evidence', 'allow', ', require_evidence: [ticket]')],
    ['an earlier throttle that fires only past its limit', rule('limit', 'throttle', ', rate_limit: { max: 1, window_sec: 1, key: [topic] }') + rule('allow', 'allow') + rule('later', 'allow')]
  ]
  for (const [what, rules] of none) {
    t.same(warnings({ 'p.yaml': `rules:\n${rules}` }).filter((w) => w.includes('never decide') && !w.includes('later:')), [], what)
  }
  t.match(warnings({ 'p.yaml': `rules:\n${none[5][1]}` }), [/later: can never decide: earlier rule allow has/], 'the allow after the throttle still shadows the next one')
})
