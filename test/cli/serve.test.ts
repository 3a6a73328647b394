/**
 * `arbiter serve` as a real process: start, decide, reload on SIGHUP, stop on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { EXAMPLE_POLICY } from '../fixtures/policies.js'
import { DATABASE_URL, ON_POSTGRES, policyDir, tempDir } from '../helpers.js'

const MAIN = path.join(PACKAGE_ROOT, 'src/cli/main.ts')

function start (env: Record<string, string>): { child: ChildProcess, output: () => string, exited: Promise<number | null> } {
  // The same loader flags this test runs under, so the child runs the TypeScript sources.
  const child = spawn(process.execPath, [...process.execArgv, MAIN, 'serve'], {
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (d) => { output += String(d) })
  child.stderr?.on('data', (d) => { output += String(d) })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, output: () => output, exited }
}

async function until<T> (what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 30000): Promise<T> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const v = await fn()
    if (v !== undefined) return v
    await sleep(50)
  }
  throw new Error(`timed out waiting for ${what}`)
}

async function isolatedUrl (t: Test): Promise<string | undefined> {
  if (!ON_POSTGRES) return undefined
  const schema = `arbiter_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: DATABASE_URL })
  await admin.connect()
  await admin.query(`create schema ${schema}`)
  await admin.end()
  t.teardown(async () => {
    const c = new pg.Client({ connectionString: DATABASE_URL })
    await c.connect()
    await c.query(`drop schema ${schema} cascade`)
    await c.end()
  })
  const url = new URL(DATABASE_URL as string)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return url.href
}

t.test('serve: decides, reloads on SIGHUP, stops cleanly on SIGTERM', async (t) => {
  const dataDir = tempDir(t)
  const policies = policyDir(t, { 'main.yaml': EXAMPLE_POLICY })
  const url = await isolatedUrl(t)
  const proc = start({ DATA_DIR: dataDir, POLICY_PATH: policies, POLICY_WATCH: 'false', ...(url === undefined ? {} : { DATABASE_URL: url }) })
  t.teardown(() => { proc.child.kill('SIGKILL') })
  const base = await until('the server to listen', () => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(proc.output())?.[1])

  t.equal((await fetch(`${base}/ready`)).status, 200)
  const res = await fetch(`${base}/check`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer s3cr3t-t0ken' }, body: JSON.stringify({ job_id: 'j', topic: 'job.mcp-bridge.read.x' }) })
  t.equal(res.status, 200)
  t.equal((await res.json() as { decision: string }).decision, 'ALLOW')
  t.equal(statSync(path.join(dataDir, 'hmac.key')).mode & 0o777, 0o600, 'the generated key is private')

  const current = async () => await (await fetch(`${base}/policies/current`)).json() as { snapshot_id: string, last_reload_error: unknown }
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
  t.notMatch(proc.output(), /s3cr3t-t0ken/, 'the authorization header is never logged')
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
  const proc = start({ DATA_DIR: tempDir(t), POLICY_PATH: policyDir(t, { 'x.yaml': 'version: v1\nrules:\n  - id: a\n' }) })
  t.equal(await proc.exited, 1)
  t.match(proc.output(), /x\.yaml:3: rule a: rules\[0\] is missing required field 'match'/)
})
