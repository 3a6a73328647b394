/* eslint-disable no-template-curly-in-string -- shell source is full of ${VAR}, meant literally */
/**
 * The shell-command gate end to end through the policy core: command → decision and rule, under
 * a policy that allows the topic, asks for review of history rewrites and destructive commands,
 * and denies privileged ones. The built-in guards must win over all of it.
 */
import t from 'tap'
import { compilePolicy, evaluate, formatProblem, normalizeJob, type CompiledPolicy, type Decision } from '../../src/policy/index.js'
import { RECURSIVE_DELETE_RULE as RM, UNPARSEABLE_COMMAND_RULE as UNPARSEABLE } from '../../src/policy/evaluate.js'

const POLICY = `version: v1
shell:
  protected_paths: ["/etc/**", "/srv"]
rules:
  - id: allow-shell
    match: { topics: ["job.agent.exec.shell"] }
    decision: allow
  - id: review-history-rewrites
    match: { topics: ["job.agent.exec.shell"], command: ["git push --force*", "git push -f*", "git reset --hard*"] }
    decision: require_approval
  - id: review-destructive
    match: { topics: ["job.agent.exec.shell"], command_class: [destructive] }
    decision: require_approval
  - id: deny-privileged
    match: { topics: ["job.agent.exec.shell"], command_class: [privileged] }
    decision: deny
`

function compile (text: string): CompiledPolicy {
  const result = compilePolicy([{ file: 'p.yaml', text }])
  if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'))
  return result.policy
}
const policy = compile(POLICY)

const ALLOW: [Decision, string] = ['ALLOW', 'allow-shell']
const REVIEW: [Decision, string] = ['REQUIRE_APPROVAL', 'review-destructive']
const HISTORY: [Decision, string] = ['REQUIRE_APPROVAL', 'review-history-rewrites']
const PRIVILEGED: [Decision, string] = ['DENY', 'deny-privileged']
const GUARD: [Decision, string] = ['DENY', RM]
const BROKEN: [Decision, string] = ['DENY', UNPARSEABLE]

const TABLE: Array<[command: string, expected: [Decision, string], cwd?: string]> = [
  // Protected targets: the built-in guard, whatever the rules say
  ['rm -rf /', GUARD],
  ['rm -rf /*', GUARD],
  ['rm -rf ~', GUARD],
  ['rm -rf ~/', GUARD],
  ['rm -rf $HOME', GUARD],
  ['rm -rf "${HOME}"', GUARD],
  ['rm -rf .', GUARD],
  ['rm -rf ./', GUARD],
  ['rm -rf ..', GUARD],
  ['rm -rf *', GUARD],
  ['rm -rf /tmp/../', GUARD],
  ['rm -rf "$OUT/"', GUARD],
  ['rm -rf /etc/nginx', GUARD],
  ['rm -rf /srv', GUARD],
  ['rm -rf /srv/app', GUARD, '/srv/app'],
  ['rm -rf "$PWD"', GUARD],
  ['rm -rf $(pwd)', GUARD],
  // Every flag spelling
  ['rm -fr /', GUARD],
  ['rm -Rf /', GUARD],
  ['rm -r -f /', GUARD],
  ['rm -f -R /', GUARD],
  ['rm -vrf /', GUARD],
  ['rm --recursive --force /', GUARD],
  ['rm --force -r /', GUARD],
  ['rm -r --force -- /', GUARD],
  ['rm -rf --no-preserve-root /', GUARD],
  // Every wrapper
  ['sudo rm -rf /', GUARD],
  ['sudo -u root -- rm -rf /', GUARD],
  ['env FOO=bar rm -rf ~', GUARD],
  ['command rm -rf ~', GUARD],
  ['nice -n 10 rm -rf ~', GUARD],
  ['timeout 30 rm -rf ~', GUARD],
  ['find / -name x | xargs rm -rf', GUARD],
  ['bash -c "rm -rf /"', GUARD],
  ["sh -c 'rm -fr ~/'", GUARD],
  ["sh -c \"bash -c 'rm -rf /'\"", GUARD],
  ['eval "rm -rf /"', GUARD],
  ['/bin/rm -rf /', GUARD],
  ['\\rm -rf /', GUARD],
  ["su root -c 'rm -rf /'", GUARD],
  ["su - root --command='rm -rf ~'", GUARD],
  ['runuser -u root -- rm -rf /', GUARD],
  ["flock /tmp/lock -c 'rm -rf /'", GUARD],
  ['setpriv --reuid=0 rm -rf /', GUARD],
  ['systemd-run --on-calendar=daily rm -rf /', GUARD],
  ["trap 'rm -rf ~' EXIT", GUARD],
  ['ls | parallel rm -rf', GUARD],
  ['coproc worker { rm -rf /; }', GUARD],
  ['foo-wrapper --x rm -rf /', GUARD],
  // Parameter expansion: any reading protected is enough
  ['rm -rf ${X:-/}', GUARD],
  ['rm -rf "${X-/}"', GUARD],
  ['rm -rf ${X:=/}', GUARD],
  ['rm -rf ${X:+build}/', GUARD],
  ['rm -rf "${HOME:?}"', GUARD],
  ['rm -rf "${PWD:?}"/*', GUARD],
  // Every separator and grouping
  ['ls; rm -rf /', GUARD],
  ['true && rm -rf /', GUARD],
  ['false || rm -rf /', GUARD],
  ['echo hi | rm -rf /', GUARD],
  ['sleep 1 & rm -rf /', GUARD],
  ['ls\nrm -rf /', GUARD],
  ['(cd /tmp; rm -rf /)', GUARD],
  ['{ rm -rf /; }', GUARD],
  ['echo $(rm -rf /)', GUARD],
  ['echo `rm -rf ~`', GUARD],
  ['if true; then rm -rf /; fi', GUARD],
  ['for d in a b; do rm -rf /; done', GUARD],
  // Not protected, not forced or not recursive: the rules decide
  ['rm -rf /tmp/build', REVIEW],
  ['rm -rf "$DIR"', REVIEW],
  ['rm -r /', REVIEW],
  ['rm -f /', REVIEW],
  ['rm -rf -- -x', REVIEW],
  ['rm -rf "${BUILD_DIR:?}/"', REVIEW],
  ['rm -rf ${X:-/tmp/cache}', REVIEW],
  ['echo rm -rf /', ALLOW],
  // A shell fed on its input runs what Arbiter cannot see: unknown, which this policy leaves to allow-shell
  ["echo 'rm -rf /' | sh", ALLOW],
  ['echo "rm -rf /"', ALLOW],
  ["echo 'rm -rf /'", ALLOW],
  ['grep -r "rm -rf /" .', ALLOW],
  ['ls -la /srv', ALLOW],
  ['df -h / | tail -n 1', ALLOW],
  ['cat /etc/hosts', ALLOW],
  ['git status && git log -n 5', ALLOW],
  ['kubectl get pods -n prod', ALLOW],
  // Patterns match simple commands after parsing, not the raw string
  ['git push --force origin main', HISTORY],
  ['cd repo && git push --force-with-lease', HISTORY],
  ['git push -f', HISTORY],
  ['git reset --hard HEAD~1', HISTORY],
  ['/usr/bin/git push --force origin main', HISTORY],
  ['$(which git) push -f', HISTORY],
  ["echo 'git push --force'", ALLOW],
  ['kubectl delete pod web-1', REVIEW],
  ['terraform destroy -auto-approve', REVIEW],
  // Privileged
  ['sudo systemctl restart nginx', PRIVILEGED],
  ['sudo ls /root', PRIVILEGED],
  ['mount /dev/sdb1 /mnt', PRIVILEGED],
  ['sudo rm -rf /tmp/x', PRIVILEGED],
  // Unparseable: never less restricted than without the command
  ["echo 'unbalanced", BROKEN],
  ['echo "unbalanced', BROKEN],
  ['echo $(date', BROKEN],
  ['ls &&', BROKEN],
  ['| grep x', BROKEN],
  ['cat <<EOF\nhi', BROKEN],
  ['case $x in a) ls;;', BROKEN],
  ['diff <(ls a) <(ls b', BROKEN],
  ['echo trailing\\', BROKEN]
]

t.test(`the gate decides each of ${TABLE.length} commands`, async (t) => {
  t.ok(TABLE.length >= 60)
  for (const [command, [decision, ruleId], cwd] of TABLE) {
    const ev = evaluate(policy, normalizeJob({ job_id: 'j', topic: 'job.agent.exec.shell', command, ...(cwd === undefined ? {} : { cwd }) }))
    t.same([ev.decision, ev.rule_id], [decision, ruleId], JSON.stringify(command))
  }
})

t.test('the guard\'s reason names the offending segment and target', async (t) => {
  const ev = evaluate(policy, normalizeJob({ job_id: 'j', topic: 'job.agent.exec.shell', command: 'make build && sudo bash -c "rm -fr ~/"' }))
  t.equal(ev.rule_id, RM)
  t.equal(ev.reason, "recursive forced delete of protected path '~/' in 'rm -fr ~/'")
  t.same(ev.command, {
    parsed: true,
    classes: ['destructive', 'privileged', 'unknown'],
    commands: [{ text: 'make build', classes: ['unknown'] }, { text: 'rm -fr ~/', classes: ['destructive', 'privileged'] }],
    decided_by: { command: 1, class: 'destructive' }
  })
  const broken = evaluate(policy, normalizeJob({ job_id: 'j', topic: 'job.agent.exec.shell', command: "echo 'x" }))
  t.match(broken.reason, /^the command cannot be parsed \(unbalanced single quote\)/)
  t.same(broken.command, { parsed: false, classes: ['unknown'], error: 'unbalanced single quote', commands: [] })
})

t.test('the decision says which simple command it turned on, and why that one is what it is', async (t) => {
  const job = (command: string) => evaluate(policy, normalizeJob({ job_id: 'j', topic: 'job.agent.exec.shell', command }))
  const env = job('ls && LD_PRELOAD=/tmp/x.so cat f')
  t.same([env.decision, env.rule_id], PRIVILEGED)
  t.same(env.command?.commands[1], { text: 'LD_PRELOAD=/tmp/x.so cat f', classes: ['privileged'], reason: 'setting LD_PRELOAD changes which code runs (loader, search path or start-up files)' })
  t.same(env.command?.decided_by, { command: 1, class: 'privileged' })
  const git = job('git status; git -c core.pager=sh log')
  t.same(git.command?.commands.map((c) => c.classes), [['read_only'], ['unknown']])
  t.match(git.command?.commands[1].reason, /^git -c overrides configuration/)
  t.same(job('git push --force origin main').command?.decided_by, { command: 0 }, 'a pattern rule names the command, no class')
  t.notOk('decided_by' in (job('ls').command ?? {}), 'a rule that says nothing of commands turns on none')
})

t.test('an unparseable command is never less restricted than the job without it', async (t) => {
  for (const topic of ['job.agent.exec.shell', 'job.other']) {
    const without = evaluate(policy, normalizeJob({ job_id: 'j', topic }))
    const broken = evaluate(policy, normalizeJob({ job_id: 'j', topic, command: 'ls "' }))
    t.equal(broken.decision, 'DENY', `${topic}: ${without.decision} without the command, DENY with it`)
  }
})

t.test('the delete guard can be turned off, and the rules decide again', async (t) => {
  const off = compile(POLICY.replace('shell:\n', 'shell:\n  recursive_delete_guard: false\n'))
  const ev = evaluate(off, normalizeJob({ job_id: 'j', topic: 'job.agent.exec.shell', command: 'rm -rf /' }))
  t.same([ev.decision, ev.rule_id], ['REQUIRE_APPROVAL', 'review-destructive'])
  const broken = evaluate(off, normalizeJob({ job_id: 'j', topic: 'job.agent.exec.shell', command: 'rm -rf "/' }))
  t.equal(broken.rule_id, UNPARSEABLE, 'an unparseable command is still denied')
})

t.test('simulation explains a guard', async (t) => {
  const ev = evaluate(policy, normalizeJob({ job_id: 'j', topic: 'job.agent.exec.shell', command: 'rm -rf / ~' }), { explain: true })
  t.same(ev.matches[0].why, ["'rm -rf / ~' deletes protected '/'", "'rm -rf / ~' deletes protected '~'"])
  t.same(ev.matched_rules, [RM, 'allow-shell', 'review-destructive'])
})
