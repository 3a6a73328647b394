/**
 * The gate under the policy most users will write: read_only → allow, destructive and
 * privileged → deny, everything else → a human. Every attack comes back anything but ALLOW
 * (the ones marked DENY, denied); every everyday command gets the classes it should.
 */
import t from 'tap'
import { compilePolicy, evaluate, formatProblem, normalizeJob, type CompiledPolicy } from '../../src/policy/index.js'
import { ATTACKS, COMPOUND, CONSTRUCTS, DESTRUCTIVE, ENVIRONMENT, FUNCTIONS, OPTIONS, WRAPPED } from '../fixtures/shell-attacks.js'
import { EVERYDAY } from '../fixtures/shell-everyday.js'

export const OBVIOUS_POLICY = `version: v1
defaults: { decision: require_approval }
rules:
  - id: allow-reads
    match: { command_class: [read_only] }
    decision: allow
  - id: deny-dangerous
    match: { command_class: [destructive, privileged] }
    decision: deny
  - id: review-the-rest
    match: { command_class: [write, network, unknown] }
    decision: require_approval
`

function compile (text: string): CompiledPolicy {
  const result = compilePolicy([{ file: 'p.yaml', text }])
  if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'))
  return result.policy
}
const policy = compile(OBVIOUS_POLICY)
const decide = (command: string) => evaluate(policy, normalizeJob({ job_id: 'j', topic: 'job.agent.exec.shell', command }))

t.test(`none of ${ATTACKS.length} attacks is allowed`, async (t) => {
  t.ok(ATTACKS.length >= 300, `${ATTACKS.length} attacks`)
  const families = { COMPOUND, OPTIONS, ENVIRONMENT, DESTRUCTIVE, WRAPPED, FUNCTIONS, CONSTRUCTS }
  for (const [family, rows] of Object.entries(families)) {
    t.test(family, async (t) => {
      for (const [command, mustDeny] of rows) {
        const ev = decide(command)
        t.not(ev.decision, 'ALLOW', `${JSON.stringify(command)} is not allowed (${ev.decision} by ${ev.rule_id ?? 'default'})`)
        if (mustDeny !== undefined) t.equal(ev.decision, 'DENY', `${JSON.stringify(command)} is denied`)
      }
    })
  }
})

t.test(`${EVERYDAY.length} everyday commands get the classes they should`, async (t) => {
  t.ok(EVERYDAY.length >= 100, `${EVERYDAY.length} everyday commands`)
  for (const [command, classes] of EVERYDAY) {
    const ev = decide(command)
    t.same(ev.command?.classes, classes, JSON.stringify(command))
    const expected = classes.includes('destructive') || classes.includes('privileged') ? 'DENY' : classes.every((c) => c === 'read_only') ? 'ALLOW' : 'REQUIRE_APPROVAL'
    t.equal(ev.decision, expected, `${JSON.stringify(command)} is ${expected}`)
  }
})
