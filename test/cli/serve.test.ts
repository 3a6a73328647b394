/**
 * `arbiter serve` as a real process: start, decide, reload on SIGHUP, stop on SIGTERM.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { EXAMPLE_POLICY } from '../fixtures/policies.js'
import { dataDir, isolatedDatabaseUrl, policyDir, tempDir } from '../helpers.js'
import { startServe as start, until } from '../support/process.js'

t.test('serve: protected from the first start; decides, reloads on SIGHUP, stops cleanly on SIGTERM', async (t) => {
  const dataDir = tempDir(t)
  const policies = policyDir(t, { 'main.yaml': EXAMPLE_POLICY })
  const url = await isolatedDatabaseUrl(t)
  const proc = start({ DATA_DIR: dataDir, POLICY_PATH: policies, POLICY_WATCH: 'false', ...(url === undefined ? {} : { DATABASE_URL: url }) })
  t.teardown(() => { proc.child.kill('SIGKILL') })
  const base = await until('the server to listen', () => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(proc.output())?.[1])

  t.equal((await fetch(`${base}/ready`)).status, 200, 'the probes need no token')
  const job = JSON.stringify({ job_id: 'j', topic: 'job.mcp-bridge.read.x' })
  const anonymous = await fetch(`${base}/check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: job })
  t.equal(anonymous.status, 401, 'a fresh start is protected')
  const tokenFile = path.join(dataDir, 'admin.token')
  t.equal(statSync(tokenFile).mode & 0o777, 0o600, 'the first admin token is readable only by its owner')
  const token = readFileSync(tokenFile, 'utf8').trim()
  t.match(token, /^arb_[A-Za-z0-9_-]{43}$/, '256 random bits')
  const announced = proc.output().split('\n').find((l) => l.includes('created the first admin key'))
  t.match(JSON.parse(announced ?? '{}'), { path: tokenFile, keyId: /^key_/ }, 'the log says where the token is')
  const auth = { authorization: `Bearer ${token}` }
  const res = await fetch(`${base}/check`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: job })
  t.equal(res.status, 200)
  t.equal((await res.json() as { decision: string }).decision, 'ALLOW')
  t.equal(statSync(path.join(dataDir, 'hmac.key')).mode & 0o777, 0o600, 'the generated key is private')
  const bad = await fetch(`${base}/check`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer s3cr3t-t0ken' }, body: job })
  t.equal(bad.status, 401)

  const current = async () => await (await fetch(`${base}/policies/current`, { headers: auth })).json() as { snapshot_id: string, last_reload_error: unknown }
  const before = await current()
  writeFileSync(path.join(policies, 'main.yaml'), 'version: v1\nrules: [')
  proc.child.kill('SIGHUP')
  await until('the failed reload to show', async () => (await current()).last_reload_error === null ? undefined : true)
  t.equal((await current()).snapshot_id, before.snapshot_id)
  writeFileSync(path.join(policies, 'main.yaml'), 'version: v1\ndefaults: { decision: allow }\nrules: []\n')
  proc.child.kill('SIGHUP')
  await until('the good reload', async () => (await current()).snapshot_id === before.snapshot_id ? undefined : true)

  proc.child.kill('SIGTERM')
  t.equal(await proc.exited, 0, 'exits 0 on SIGTERM')
  t.notMatch(proc.output(), /s3cr3t-t0ken/, 'a presented token is never logged')
  t.notOk(proc.output().includes(token), 'the admin token is never logged')
  t.notOk(proc.output().includes(token.slice(4, 20)), 'not even in part')

  // A second start finds the admin key and leaves the token file alone.
  const again = start({ DATA_DIR: dataDir, POLICY_PATH: policies, POLICY_WATCH: 'false', ...(url === undefined ? {} : { DATABASE_URL: url }) })
  t.teardown(() => { again.child.kill('SIGKILL') })
  await until('the second start to listen', () => /Server listening at/.exec(again.output()) ?? undefined)
  t.equal(readFileSync(tokenFile, 'utf8').trim(), token, 'the token file is unchanged')
  t.notMatch(again.output(), /created the first admin key/)
  again.child.kill('SIGTERM')
  t.equal(await again.exited, 0)
})

t.test('serve: a bad configuration exits 1 naming every bad variable', async (t) => {
  const proc = start({ PORT: 'eighty', LOG_LEVEL: 'loud', CHECK_BUDGET_MS: '0' })
  t.equal(await proc.exited, 1)
  t.match(proc.output(), /invalid configuration/)
  t.match(proc.output(), /PORT: must be integer/)
  t.match(proc.output(), /LOG_LEVEL: must be equal to one of the allowed values/)
  t.match(proc.output(), /CHECK_BUDGET_MS: must be >= 10/)
})

t.test('serve: a policy that does not load exits 1 with file:line', async (t) => {
  const proc = start({ DATA_DIR: await dataDir(t), POLICY_PATH: policyDir(t, { 'x.yaml': 'version: v1\nrules:\n  - id: a\n' }) })
  t.equal(await proc.exited, 1)
  t.match(proc.output(), /x\.yaml:3: rule a: rules\[0\] is missing required field 'match'/)
})
