/**
 * POST /policies/replay and GET /policies/shadow over HTTP: who may ask, what a scoped key sees,
 * bad candidates refused in the catalogue's shape, and a shadow that counts under load without
 * changing one answer.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { compilePolicy, evaluate, normalizeJob, type CompiledPolicy } from '../../src/policy/index.js'
import { replayDecisions } from '../../src/replay/replayer.js'
import { MAX_RUNNING_REPLAYS, ReplayRuns } from '../../src/replay/runs.js'
import { systemClock } from '../../src/clock.js'
import type { Queryable } from '../../src/store/db.js'
import { countRecords } from '../../src/store/log-read.js'
import { EXAMPLE_POLICY_DIR, policyDir, testApp, verifyLog, type TestApp } from '../helpers.js'

/** These tests are about what is recorded and replayed, not speed: a busy host must not turn checks into 503s. */
const SLOW_HOST = { CHECK_BUDGET_MS: '30000' }
const BASE = readFileSync(path.join(EXAMPLE_POLICY_DIR, 'base.yaml'), 'utf8')
/** Medium-risk execution tightened to approval; non-production ticket writes loosened to allow. */
const CANDIDATE = {
  'base.yaml': BASE.replace('    decision: allow_with_constraints\n', '    decision: require_approval\n'),
  'loosen.yaml': 'version: v1\nrules:\n  - id: allow-staging-writes\n    match: { topics: ["job.mcp-bridge.write.*"], risk_tags: [] }\n    decision: allow\n'
}

function compiled (files: Record<string, string>): CompiledPolicy {
  const r = compilePolicy(Object.entries(files).sort().map(([file, text]) => ({ file, text })))
  if (!r.ok) throw new Error('does not compile')
  return r.policy
}

const TOPICS = ['job.mcp-bridge.read.ticket', 'job.mcp-bridge.write.ticket', 'job.agent.exec.shell', 'job.ci.deploy.api']
const TAGS = [[], ['prod'], ['medium'], ['medium', 'destructive']]
function job (i: number): Record<string, unknown> {
  return { job_id: `j-${i}`, topic: TOPICS[i % 4], tenant_id: ['acme', 'globex'][i % 2], risk_tags: TAGS[Math.floor(i / 4) % 4], principal_id: 'agent:bot' }
}

async function checkAll (ctx: TestApp, n: number): Promise<Array<Record<string, any>>> {
  const answers: Array<Record<string, any>> = []
  for (let i = 0; i < n; i += 50) {
    answers.push(...await Promise.all(Array.from({ length: Math.min(50, n - i) }, async (_, k) => {
      const res = await ctx.app.inject({ method: 'POST', url: '/check', payload: job(i + k) })
      if (res.statusCode !== 200) throw new Error(res.body)
      return res.json()
    })))
  }
  return answers
}

const files = (f: Record<string, string>): Array<{ file: string, text: string }> => Object.entries(f).map(([file, text]) => ({ file, text }))

t.test('POST /policies/replay runs off the request and is read back by its owner', async (t) => {
  const ctx = await testApp(t, { policies: { 'base.yaml': BASE }, env: SLOW_HOST })
  await checkAll(ctx, 200)
  const auditor = await ctx.token({ principal_id: 'aud', roles: ['auditor'], tenants: ['*'] })
  const acmeAuditor = await ctx.token({ principal_id: 'aud-acme', roles: ['auditor'], tenants: ['acme'] })
  const scheduler = await ctx.token({ principal_id: 'sched', roles: ['scheduler'], tenants: ['*'] })
  const post = async (token: string, payload: unknown): Promise<{ status: number, body: any, location?: string }> => {
    const res = await ctx.app.inject({ method: 'POST', url: '/policies/replay', payload: payload as Record<string, unknown>, headers: { authorization: `Bearer ${token}` } })
    return { status: res.statusCode, body: res.json(), location: res.headers.location as string | undefined }
  }
  const get = async (token: string, id: string): Promise<{ status: number, body: any }> => {
    const res = await ctx.app.inject({ url: `/policies/replay/${id}`, headers: { authorization: `Bearer ${token}` } })
    return { status: res.statusCode, body: res.json() }
  }
  const finished = async (token: string, id: string): Promise<any> => {
    for (let i = 0; i < 400; i++) {
      const r = await get(token, id)
      if (r.body.status !== 'running') return r.body
      await sleep(10)
    }
    throw new Error('replay did not finish')
  }

  const started = await post(auditor, { files: files(CANDIDATE), fail_on: 'ALLOW>DENY,any-loosening' })
  t.equal(started.status, 202)
  t.equal(started.location, `/policies/replay/${String(started.body.replay_id)}`)
  t.match(started.body, { status: 'running', judged: 0, result: null, window: { since: null, until: null, tenant_id: null } })
  const done = await finished(auditor, started.body.replay_id)
  const direct = await replayDecisions(ctx.db, { candidate: compiled(CANDIDATE), failOn: [{ kind: 'cell', live: 'ALLOW', candidate: 'DENY' }, { kind: 'any-loosening' }] })
  t.equal(done.status, 'done')
  t.equal(done.judged, 200)
  t.same(done.result, JSON.parse(JSON.stringify(direct)), 'the HTTP result is the replay itself')
  t.ok(done.result.failures.some((f: any) => f.fail_on === 'any-loosening'), 'fail_on is reported')

  t.equal((await get(acmeAuditor, started.body.replay_id)).status, 404, "another key's replay is answered as none")
  t.equal((await get(ctx.adminToken, started.body.replay_id)).status, 200, 'an admin reads any')
  t.equal((await get(auditor, '00000000-0000-4000-8000-000000000000')).status, 404)

  const scoped = await finished(acmeAuditor, (await post(acmeAuditor, { files: files(CANDIDATE) })).body.replay_id)
  t.equal(scoped.judged, 100, "a tenant-scoped auditor replays its tenants' decisions only")
  t.same(scoped.result.tenants.map((x: any) => x.tenant_id), ['acme'])
  t.equal((await post(acmeAuditor, { files: files(CANDIDATE), tenant_id: 'globex' })).body.code, 'ARBITER_ERR_NOT_FOUND', 'a tenant beyond the key is unknown')

  t.equal((await post(scheduler, { files: files(CANDIDATE) })).status, 403, 'schedulers may not replay')
  const broken = await post(auditor, { files: [{ file: 'a.yaml', text: 'version: v1\nrules:\n  - id: x\n    decision: allow\n' }] })
  t.match(broken, { status: 422, body: { code: 'ARBITER_ERR_POLICY_INVALID', message: /a\.yaml:3/ } })
  t.match(await post(auditor, { files: [...files(CANDIDATE), { file: 'base.yaml', text: BASE }] }), { status: 400, body: { code: 'ARBITER_ERR_VALIDATION', message: /more than once/ } })
  t.match(await post(auditor, { files: [{ file: 'base.test.yaml', text: 'cases: []' }] }), { status: 400, body: { message: /test suite/ } })
  t.match(await post(auditor, { files: [{ file: '../etc/passwd.yaml', text: BASE }] }), { status: 400, body: { code: 'ARBITER_ERR_VALIDATION' } })
  t.match(await post(auditor, { files: files(CANDIDATE), fail_on: 'ALLOW>SOMETIMES' }), { status: 400, body: { message: /fail_on/ } })
  t.match(await post(auditor, { files: files(CANDIDATE), since: '2026-02-01T00:00:00Z', until: '2026-01-01T00:00:00Z' }), { status: 400 })
  t.match(await post(auditor, { files: [] }), { status: 400 })
  t.match(await post(auditor, { files: files(CANDIDATE), max_seconds: 100000 }), { status: 400 })
})

t.test('at most MAX_RUNNING_REPLAYS run at once; a stalled database holds them, close stops them', async (t) => {
  let release!: () => void
  const stalled = new Promise<void>((resolve) => { release = resolve })
  const q: Queryable = { query: async () => { await stalled; return { rows: [] } } } as unknown as Queryable
  const runs = new ReplayRuns(q, systemClock, { info: () => {}, error: () => {} })
  const req = { owner: 'k', candidate: compiled(CANDIDATE), failOn: [], examplesPerCell: 1, maxSeconds: 60 }
  const started = Array.from({ length: MAX_RUNNING_REPLAYS }, () => runs.start(req))
  t.ok(started.every((r) => r?.status === 'running'))
  t.equal(runs.start(req), undefined, 'one more is refused')
  runs.close()
  release()
  await sleep(20)
  t.ok(started.every((r) => r?.status === 'done' && r.finished_at !== null), 'each ends with what it judged')
  t.ok(runs.start(req) !== undefined, 'and a new one may start')
})

/** Enough checks to run many at once (checkAll sends them together) and to pass the 100 samples kept. */
const SHADOW_CHECKS = 160

t.test('shadow mode counts disagreements under load and changes no answer', async (t) => {
  const shadowDir = policyDir(t, CANDIDATE)
  const ctx = await testApp(t, { policies: { 'base.yaml': BASE }, env: { ...SLOW_HOST, POLICY_SHADOW_PATH: shadowDir } })
  const plain = await testApp(t, { policies: { 'base.yaml': BASE }, env: SLOW_HOST })
  const answers = await checkAll(ctx, SHADOW_CHECKS)
  const control = await checkAll(plain, SHADOW_CHECKS)
  const strip = (a: Record<string, any>): unknown => ({ decision: a.decision, rule_id: a.rule_id, reason: a.reason, constraints: a.constraints, matched_rules: a.matched_rules })
  t.same(answers.map(strip), control.map(strip), 'every answer is the one an instance without a shadow gives')
  await tick()

  const candidate = compiled(CANDIDATE)
  const expected = new Map<string, number>()
  for (let i = 0; i < SHADOW_CHECKS; i++) {
    const live = answers[i].policy_decision ?? answers[i].decision
    const ev = evaluate(candidate, normalizeJob(job(i) as any))
    if (ev.decision !== live) expected.set(`${String(live)}>${ev.decision}|${String(ev.rule_id)}`, (expected.get(`${String(live)}>${ev.decision}|${String(ev.rule_id)}`) ?? 0) + 1)
  }
  const report = (await ctx.app.inject({ url: '/policies/shadow' })).json()
  t.equal(report.enabled, true)
  t.equal(report.evaluated, SHADOW_CHECKS)
  t.equal(report.candidate_snapshot, candidate.snapshotId)
  t.same(Object.fromEntries(report.by_rule.map((r: any) => [`${String(r.live)}>${String(r.candidate)}|${String(r.candidate_rule)}`, r.count])), Object.fromEntries(expected))
  t.equal(report.disagreements, [...expected.values()].reduce((a, b) => a + b, 0))
  t.ok(report.disagreements > 0)
  t.equal(report.samples.length, Math.min(100, report.disagreements), 'samples are bounded')
  t.equal(report.errors, 0)
  const metrics = (await ctx.app.inject({ url: '/metrics' })).body
  t.match(metrics, /arbiter_shadow_disagreements_total\{live="ALLOW_WITH_CONSTRAINTS",candidate="REQUIRE_APPROVAL",rule="constrain-medium-risk"\} \d+/)
  t.match(metrics, new RegExp(`arbiter_shadow_evaluations_total ${SHADOW_CHECKS}\\b`))

  const tenantKey = await ctx.token({ principal_id: 'aud-acme', roles: ['auditor'], tenants: ['acme'] })
  t.equal((await ctx.app.inject({ url: '/policies/shadow', headers: { authorization: `Bearer ${tenantKey}` } })).statusCode, 403, "a tenant's key may not read every tenant's samples")

  // A broken candidate keeps the old one and says why; a new one starts a new report.
  writeFileSync(path.join(shadowDir, 'loosen.yaml'), 'version: v1\nrules: [')
  t.equal((await ctx.app.shadowPolicies?.reload())?.ok, false)
  const kept = (await ctx.app.inject({ url: '/policies/shadow' })).json()
  t.equal(kept.candidate_snapshot, candidate.snapshotId, 'the old candidate stays')
  t.match(kept.last_reload_error, { problems: [/loosen\.yaml/] })
  writeFileSync(path.join(shadowDir, 'loosen.yaml'), 'version: v1\nrules: []\n')
  t.equal((await ctx.app.shadowPolicies?.reload())?.ok, true)
  await checkAll(ctx, 8)
  await tick()
  const fresh = (await ctx.app.inject({ url: '/policies/shadow' })).json()
  t.not(fresh.candidate_snapshot, candidate.snapshotId)
  t.equal(fresh.evaluated, 8, 'a new candidate starts a new count')

  const none = (await plain.app.inject({ url: '/policies/shadow' })).json()
  t.match(none, { enabled: false, evaluated: 0, candidate_snapshot: null })
})

t.test('POLICY_SHADOW_RECORD=disagreements writes each disagreement into the job\'s log and trace', async (t) => {
  const ctx = await testApp(t, { policies: { 'base.yaml': BASE }, env: { ...SLOW_HOST, POLICY_SHADOW_PATH: policyDir(t, CANDIDATE), POLICY_SHADOW_RECORD: 'disagreements' } })
  await checkAll(ctx, 64)
  await tick()
  const report = (await ctx.app.inject({ url: '/policies/shadow' })).json()
  t.ok(report.disagreements > 0)
  let recorded = 0
  for (let i = 0; i < 200 && recorded < report.disagreements; i++) {
    recorded = await countRecords(ctx.db, 'policy.shadow')
    await sleep(10)
  }
  t.equal(recorded, report.disagreements, 'one record per disagreement')
  const keys = new Map([[ctx.deps.key.id, ctx.deps.key.secret]])
  for (const tenant of ['acme', 'globex']) t.type(await verifyLog(ctx.db, tenant, keys), 'number', `${tenant}'s log still verifies`)
  const sample = report.samples[0]
  const trace = (await ctx.app.inject({ url: `/traces/${String(sample.trace_id)}?tenant_id=${String(sample.tenant_id)}` })).json()
  const shadowed = trace.entries.find((r: any) => r.type === 'policy.shadow')
  t.match(shadowed, { job_id: sample.job_id, actor: { system: 'arbiter-shadow' } }, 'the record is in the job\'s trace, beside its decision')
})

t.test('a shadow that does not load stops the start, as a typo in POLICY_PATH does', async (t) => {
  await t.rejects(testApp(t, { policies: { 'base.yaml': BASE }, env: { POLICY_SHADOW_PATH: policyDir(t, { 'x.yaml': 'version: v1\nrules: [' }) } }), /policy failed to load/)
})
