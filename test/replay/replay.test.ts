/**
 * Policy replay over a real run: a few hundred checks through HTTP (three rounds of every mix) (approvals, a rate limit,
 * several tenants, shell commands), then a candidate that tightens one rule and loosens another.
 * The report must hold exactly the changes that the candidate, asked directly (its own app's
 * /check/simulate), makes of each job that was checked.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { compilePolicy, type CompiledPolicy, type Decision } from '../../src/policy/index.js'
import { readPolicySources } from '../../src/live-policy/sources.js'
import { replayHtml, replayText } from '../../src/replay/format.js'
import { replayDecisions } from '../../src/replay/replayer.js'
import { parseFailOn, ReplayTally } from '../../src/replay/tally.js'
import { EXAMPLE_POLICY_DIR, policyDir, testApp, type TestApp } from '../helpers.js'

/** These tests are about what is recorded and replayed, not speed: a busy host must not turn checks into 503s. */
const SLOW_HOST = { CHECK_BUDGET_MS: '30000' }
const LIMITS = `version: v1
rules:
  - id: allow-reports
    match: { topics: ["job.reports.*"] }
    decision: allow
  - id: reports-per-tenant
    match: { topics: ["job.reports.*"] }
    decision: throttle
    rate_limit: { max: 7, window_sec: 3600, key: [tenant_id] }
`

/** The shipped policy, with medium-risk execution tightened to approval and non-production ticket writes loosened to allow. */
function candidateFiles (): Record<string, string> {
  const base = readFileSync(path.join(EXAMPLE_POLICY_DIR, 'base.yaml'), 'utf8')
    .replace('    decision: allow_with_constraints\n', '    decision: require_approval\n')
  const loosen = `version: v1
rules:
  - id: allow-staging-writes
    match: { topics: ["job.mcp-bridge.write.*"], risk_tags: [] }
    decision: allow
`
  return { 'base.yaml': base, 'guards.yaml': readFileSync(path.join(EXAMPLE_POLICY_DIR, 'guards.yaml'), 'utf8'), 'limits.yaml': LIMITS, 'loosen.yaml': loosen }
}

const TOPICS = ['job.mcp-bridge.read.ticket', 'job.mcp-bridge.write.ticket', 'job.agent.exec.shell', 'job.ci.deploy.api', 'job.reports.weekly', 'job.unknown.thing']
const TAGS = [[], ['prod'], ['medium'], ['medium', 'destructive'], ['prod', 'destructive']]
const COMMANDS = [undefined, 'ls -la', 'df -h /srv | tail -n 1', 'rm -rf /', 'git push --force origin main', "echo 'unbalanced"]

/** The i-th job of the run: every mix of topic, tags and command comes up, in several tenants. */
function job (i: number): Record<string, unknown> {
  const command = COMMANDS[Math.floor(i / 30) % COMMANDS.length]
  return {
    job_id: `job-${i}`,
    topic: TOPICS[i % TOPICS.length],
    tenant_id: ['acme', 'globex', 'initech'][i % 3],
    risk_tags: TAGS[Math.floor(i / 6) % TAGS.length],
    principal_id: 'agent:bot',
    ...(command === undefined ? {} : { command })
  }
}

interface Sent { body: Record<string, unknown>, live: Decision, liveRule: string | null, rateLimited: boolean }

/** Checks `n` jobs through HTTP, 40 at a time; an approval is given for a few that needed one and they are checked again. */
async function run (t: Test, live: TestApp, n: number): Promise<Sent[]> {
  const scheduler = await live.token({ principal_id: 'sched', roles: ['scheduler'], tenants: ['*'] })
  const reviewer = await live.token({ principal_id: 'rev', roles: ['reviewer'], tenants: ['*'] })
  const sent: Sent[] = []
  const check = async (body: Record<string, unknown>): Promise<void> => {
    const res = await live.app.inject({ method: 'POST', url: '/check', payload: body, headers: { authorization: `Bearer ${scheduler}` } })
    if (res.statusCode !== 200) throw new Error(`check answered ${res.statusCode}: ${res.body}`)
    const d = res.json()
    sent.push({ body, live: d.policy_decision ?? d.decision, liveRule: d.rule_id, rateLimited: d.decision === 'THROTTLE' && d.rule_id === 'reports-per-tenant' })
  }
  for (let i = 0; i < n; i += 40) await Promise.all(Array.from({ length: Math.min(40, n - i) }, async (_, k) => { await check(job(i + k)) }))
  // Approve some of the production writes and check them again: their ALLOW comes through the approval.
  const approved = sent.filter((s) => s.live === 'REQUIRE_APPROVAL' && s.body.topic === 'job.mcp-bridge.write.ticket').slice(0, 5)
  for (const s of approved) {
    const res = await live.app.inject({ method: 'POST', url: `/approvals/${String(s.body.job_id)}/approve`, payload: { tenant_id: s.body.tenant_id, note: 'fine' }, headers: { authorization: `Bearer ${reviewer}` } })
    t.equal(res.statusCode, 200, res.body)
    await check(s.body)
  }
  t.equal(sent.filter((s) => s.live === 'REQUIRE_APPROVAL').length > 0, true, 'the run holds jobs that needed approval')
  return sent
}

t.test('replay reports exactly the changes the candidate makes of each recorded job', async (t) => {
  const live = await testApp(t, { env: SLOW_HOST, policyPath: policyDir(t, { ...Object.fromEntries(['base.yaml', 'guards.yaml'].map((f) => [f, readFileSync(path.join(EXAMPLE_POLICY_DIR, f), 'utf8')])), 'limits.yaml': LIMITS }) })
  const files = candidateFiles()
  const direct = await testApp(t, { policies: files, env: SLOW_HOST })
  const compiled = compilePolicy(await readPolicySources(direct.config.policyPath))
  if (!compiled.ok) throw new Error('candidate does not compile')
  const candidate: CompiledPolicy = compiled.policy

  const sent = await run(t, live, 540)
  // The candidate asked directly, job by job; a full rate limit stays full.
  const expected = new Map<string, number>()
  const expectedRules = new Map<string, number>()
  for (const s of sent) {
    const sim = (await direct.app.inject({ method: 'POST', url: '/check/simulate', payload: s.body })).json()
    const candidateDecision: Decision = s.rateLimited ? 'THROTTLE' : sim.decision
    const candidateRule: string | null = s.rateLimited ? 'reports-per-tenant' : sim.rule_id
    const cell = `${s.live}>${candidateDecision}`
    expected.set(cell, (expected.get(cell) ?? 0) + 1)
    if (s.live !== candidateDecision) {
      const key = `${String(s.liveRule)}|${String(candidateRule)}`
      expectedRules.set(key, (expectedRules.get(key) ?? 0) + 1)
    }
  }

  let progress = 0
  const result = await replayDecisions(live.db, { candidate, pageSize: 500, onProgress: (n) => { progress = n } })
  t.equal(result.judged, sent.length, 'every recorded decision is judged')
  t.equal(progress, sent.length, 'progress reaches the total')
  t.equal(result.complete, true)
  t.same(Object.fromEntries(result.matrix.map((c) => [`${c.live}>${c.candidate}`, c.count])), Object.fromEntries(expected), 'the matrix is what direct evaluation gives')
  t.same(Object.fromEntries(result.changes_by_rule.map((c) => [`${String(c.live_rule)}|${String(c.candidate_rule)}`, c.count])), Object.fromEntries(expectedRules), 'changes by rule too')
  t.ok(result.loosened > 0 && result.tightened > 0, `one rule loosened (${result.loosened}) and one tightened (${result.tightened})`)
  t.same(result.changes_by_rule.map((c) => c.candidate_rule).sort(), ['allow-staging-writes', 'constrain-medium-risk'], 'only the two changed rules change anything')
  t.equal(result.via.approval, 5, 'the approved re-checks are compared on the policy decision')
  t.ok(result.rate_limited > 0, 'rate-limit throttles were replayed as full')
  t.equal(result.live_snapshots.length, 1)
  t.equal(result.live_snapshots[0].count, sent.length)
  t.equal(result.candidate_snapshot, candidate.snapshotId)
  for (const cell of result.examples) {
    t.ok(cell.jobs.length > 0 && cell.jobs.length <= 5, 'examples per changed cell are bounded')
    for (const j of cell.jobs) t.ok(sent.some((s) => s.body.job_id === j.job_id && s.body.tenant_id === j.tenant_id), 'examples name real jobs')
  }
  t.equal(result.tenants.length, 3)

  // Checks made together share a millisecond: pages of two split such times and must neither drop nor repeat one.
  const small = await replayDecisions(live.db, { candidate, pageSize: 2 })
  t.same(small.matrix, result.matrix, 'tiny pages judge every record once')

  const tenantOnly = await replayDecisions(live.db, { candidate, tenantId: 'globex' })
  t.equal(tenantOnly.judged, sent.filter((s) => s.body.tenant_id === 'globex').length, 'a tenant filter judges that tenant only')
  const scoped = await replayDecisions(live.db, { candidate, tenants: ['acme', 'initech'] })
  t.equal(scoped.judged, sent.filter((s) => s.body.tenant_id !== 'globex').length, "a caller's tenant scope bounds it")
  const future = await replayDecisions(live.db, { candidate, since: new Date(Date.now() + 60_000).toISOString() })
  t.equal(future.judged, 0, 'an empty window judges nothing')

  const text = replayText(result)
  t.match(text, /would change: \d+/)
  t.match(text, /constrain-medium-risk → constrain-medium-risk/)
  const html = replayHtml(result)
  t.match(html, /Content-Security-Policy/)
  t.notMatch(html, /<script/i)

  const stopped = await replayDecisions(live.db, { candidate, pageSize: 100, deadline: 0 })
  t.equal(stopped.complete, false, 'a replay past its deadline says it is incomplete')
  t.equal(stopped.judged, 0)
})

t.test('fail-on', async (t) => {
  t.same(parseFailOn('ALLOW>DENY, any-loosening,*>THROTTLE'), [{ kind: 'cell', live: 'ALLOW', candidate: 'DENY' }, { kind: 'any-loosening' }, { kind: 'cell', live: '*', candidate: 'THROTTLE' }])
  t.throws(() => parseFailOn('ALLOW>MAYBE'), /fail-on "ALLOW>MAYBE"/)
  t.throws(() => parseFailOn('loosening'), /fail-on/)
  const tally = new ReplayTally(1, parseFailOn('ALLOW>DENY,any-tightening,any'))
  const d = { tenant_id: 't', seq: 1, at: '2026-01-01T00:00:00.000Z', trace_id: 'tr', job_id: 'j', decision_id: 'd', topic: 'x', live_rule: 'a', candidate_rule: 'b' }
  tally.add({ ...d, live: 'DENY', candidate: 'ALLOW' })
  tally.add({ ...d, live: 'ALLOW', candidate: 'ALLOW', candidate_rule: 'c' })
  const report = tally.report()
  t.same(report.failures, [{ fail_on: 'any', count: 1 }], 'a loosening matches any, not ALLOW>DENY nor any-tightening')
  t.equal(report.rule_changed, 1)
  t.equal(report.examples[0].jobs.length, 1)
})
