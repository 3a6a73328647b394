import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { EXAMPLE_POLICY } from '../fixtures/policies.js'
import { tempDir, testApp, type TestApp } from '../helpers.js'
import { configMapVolume } from './fixtures/configmap-volume.js'

const ALLOW_ALL = 'version: v1\ndefaults: { decision: allow }\nrules: []\n'
const EXTRA = 'version: v1\nrules:\n  - id: deny-other\n    match: { topics: ["job.other"] }\n    decision: deny\n'
const WATCH_DEBOUNCE_MS = 20

async function current (ctx: TestApp): Promise<{ snapshot_id: string, rule_count: number, files: string[], last_reload_error: { problems: string[] } | null }> {
  return (await ctx.app.inject({ url: '/policies/current' })).json()
}

async function decide (ctx: TestApp): Promise<string> {
  return (await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'j', topic: 'job.other' } })).json().decision
}

/** Polls until `fn` holds, for at most ten seconds (a loaded machine is slow to start a reload). */
async function waitFor (what: string, fn: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + 10_000
  while (Date.now() < until) {
    if (await fn()) return
    await sleep(25)
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** An app serving `policyPath`, its watcher in place. */
async function watchedApp (t: Parameters<typeof testApp>[0], policyPath: string): Promise<TestApp> {
  const ctx = await testApp(t, { policyPath })
  await ctx.app.policies.watch(WATCH_DEBOUNCE_MS)
  return ctx
}

t.test('a ConfigMap volume serves, and its atomic update is seen and served', async (t) => {
  const dir = tempDir(t, 'arbiter-configmap-')
  const volume = configMapVolume(dir, { 'main.yaml': EXAMPLE_POLICY })
  const ctx = await watchedApp(t, dir)
  const first = await current(ctx)
  t.same(first.files, ['main.yaml'])
  t.equal(first.rule_count, 4)
  t.equal(await decide(ctx), 'DENY')

  volume.update({ 'main.yaml': ALLOW_ALL })
  await waitFor('the swap to be served', async () => (await current(ctx)).snapshot_id !== first.snapshot_id)
  t.same((await current(ctx)).files, ['main.yaml'], 'named as listed, not by the timestamped directory')
  t.equal(await decide(ctx), 'ALLOW')

  // A key added to the ConfigMap shows up as a new link after the swap.
  volume.update({ 'main.yaml': ALLOW_ALL, 'extra.yaml': EXTRA })
  await waitFor('the added file to be served', async () => (await current(ctx)).files.length === 2)
  const third = await current(ctx)
  t.same(third.files, ['extra.yaml', 'main.yaml'])
  t.equal(third.rule_count, 1)
  t.equal(third.last_reload_error, null)
  t.equal(await decide(ctx), 'DENY', 'the added file\'s rule decides')
})

t.test('a single policy file in a ConfigMap volume is reloaded on the swap too', async (t) => {
  const dir = tempDir(t, 'arbiter-configmap-')
  const volume = configMapVolume(dir, { 'main.yaml': EXAMPLE_POLICY })
  const ctx = await watchedApp(t, path.join(dir, 'main.yaml'))
  const before = (await current(ctx)).snapshot_id
  volume.update({ 'main.yaml': ALLOW_ALL })
  await waitFor('the swap to be served', async () => (await current(ctx)).snapshot_id !== before)
  t.equal(await decide(ctx), 'ALLOW')
})

t.test('a symlink out of the policy directory is refused at start and on reload', async (t) => {
  const scratch = tempDir(t)
  const pol = path.join(scratch, 'policies')
  mkdirSync(pol)
  writeFileSync(path.join(scratch, 'elsewhere.yaml'), ALLOW_ALL)
  symlinkSync('../elsewhere.yaml', path.join(pol, 'main.yaml'))
  await t.rejects(testApp(t, { policyPath: pol }), {
    name: 'PolicyLoadError',
    message: /main\.yaml: is a symlink that resolves to .*elsewhere\.yaml, outside the policy directory .*; refused/
  })

  // A served ConfigMap volume whose link is re-pointed outside: the previous policy stays in force.
  const dir = path.join(scratch, 'volume')
  mkdirSync(dir)
  configMapVolume(dir, { 'main.yaml': EXAMPLE_POLICY })
  const ctx = await watchedApp(t, dir)
  const before = (await current(ctx)).snapshot_id
  symlinkSync('../elsewhere.yaml', path.join(dir, 'main.yaml.tmp'))
  renameSync(path.join(dir, 'main.yaml.tmp'), path.join(dir, 'main.yaml'))
  await waitFor('the refusal to be reported', async () => (await current(ctx)).last_reload_error !== null)
  const after = await current(ctx)
  t.equal(after.snapshot_id, before, 'the previous policy stays in force')
  t.match(after.last_reload_error?.problems, [/^main\.yaml: is a symlink that resolves to .*, outside the policy directory/])
  t.equal(await decide(ctx), 'DENY')
})
