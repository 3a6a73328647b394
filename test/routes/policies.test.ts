import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { EXAMPLE_POLICY } from '../fixtures/policies.js'
import { testApp } from '../helpers.js'

const ALLOW_ALL = 'version: v1\ndefaults: { decision: allow }\nrules: []\n'

async function waitFor (what: string, fn: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (await fn()) return
    await sleep(25)
  }
  throw new Error(`timed out waiting for ${what}`)
}

t.test('reload: a good policy swaps in, a bad one keeps the old serving and is reported', async (t) => {
  const ctx = await testApp(t, { policies: { 'main.yaml': EXAMPLE_POLICY } })
  const dir = ctx.config.policyPath
  const current = async () => (await ctx.app.inject({ url: '/policies/current' })).json()
  const decide = async () => (await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'j', topic: 'job.other' } })).json()

  const first = await current()
  t.equal(first.rule_count, 4)
  t.same(first.files, ['main.yaml'])
  t.equal(first.last_reload_error, null)
  t.equal((await decide()).decision, 'DENY')

  writeFileSync(path.join(dir, 'main.yaml'), ALLOW_ALL)
  t.match(await ctx.app.policies.reload(), { ok: true, changed: true })
  const second = await current()
  t.not(second.snapshot_id, first.snapshot_id)
  const allowed = await decide()
  t.equal(allowed.decision, 'ALLOW')
  t.equal(allowed.policy_snapshot, second.snapshot_id, 'decisions carry the new snapshot')

  writeFileSync(path.join(dir, 'main.yaml'), 'version: v1\nrules:\n  - id: broken\n    decision: allow\n')
  writeFileSync(path.join(dir, 'extra.yaml'), 'version: v1\nrules: [')
  const failed = await ctx.app.policies.reload()
  t.equal(failed.ok, false)
  const third = await current()
  t.equal(third.snapshot_id, second.snapshot_id, 'the previous policy stays in force')
  t.match(third.last_reload_error, { message: /previous policy stays in force/ })
  t.match(third.last_reload_error.problems, [/^extra\.yaml:\d+: YAML syntax/, /^main\.yaml:3: rule broken: rules\[0\] is missing required field 'match'/])
  t.equal((await decide()).decision, 'ALLOW', 'still deciding with the old policy')
  t.ok(ctx.logLines.some((l) => l.includes('policy reload failed')), 'the failure is logged')

  writeFileSync(path.join(dir, 'main.yaml'), EXAMPLE_POLICY)
  writeFileSync(path.join(dir, 'extra.yaml'), 'version: v1\nrules: []\n')
  t.match(await ctx.app.policies.reload(), { ok: true })
  const fourth = await current()
  t.equal(fourth.snapshot_id, first.snapshot_id, 'the same policy gets the same snapshot id')
  t.equal(fourth.last_reload_error, null, 'a good reload clears the error')
})

t.test('reload on file change (watch)', async (t) => {
  const ctx = await testApp(t, { policies: { 'main.yaml': EXAMPLE_POLICY } })
  ctx.app.policies.watch(20)
  await sleep(100) // the watcher starts asynchronously
  const before = (await ctx.app.inject({ url: '/policies/current' })).json().snapshot_id
  writeFileSync(path.join(ctx.config.policyPath, 'main.yaml'), ALLOW_ALL)
  await waitFor('the watcher to reload', async () => (await ctx.app.inject({ url: '/policies/current' })).json().snapshot_id !== before)
  writeFileSync(path.join(ctx.config.policyPath, 'notes.txt'), 'not a policy')
  writeFileSync(path.join(ctx.config.policyPath, 'main.test.yaml'), 'cases: []')
  await sleep(150)
  t.equal((await ctx.app.inject({ url: '/policies/current' })).json().files.length, 1, 'suites and other files are not policy')
})

t.test('every snapshot that decided is stored with its exact text', async (t) => {
  const ctx = await testApp(t, { policies: { 'main.yaml': '# the exact text, comments too\n' + EXAMPLE_POLICY } })
  const decision = (await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'j', topic: 'job.x' } })).json()
  writeFileSync(path.join(ctx.config.policyPath, 'main.yaml'), ALLOW_ALL)
  await ctx.app.policies.reload()

  const res = await ctx.app.inject({ url: `/policies/snapshots/${decision.policy_snapshot as string}` })
  t.equal(res.statusCode, 200)
  t.same(res.json().sources, [{ file: 'main.yaml', text: '# the exact text, comments too\n' + EXAMPLE_POLICY }])
  const missing = await ctx.app.inject({ url: `/policies/snapshots/sha256:${'0'.repeat(64)}` })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'ARBITER_ERR_NOT_FOUND')
  const bad = await ctx.app.inject({ url: '/policies/snapshots/nope' })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'ARBITER_ERR_VALIDATION')
})

t.test('a policy that fails to load stops the start', async (t) => {
  await t.rejects(testApp(t, { policies: { 'bad.yaml': 'version: v1\nrules:\n  - id: x\n' } }), { name: 'PolicyLoadError', message: /bad\.yaml:3: rule x/ })
  await t.rejects(testApp(t, { policies: {} }), { message: /no policy files found/ })
})
