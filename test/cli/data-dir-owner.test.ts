/**
 * The embedded database has one owner. With `arbiter serve` running on a DATA_DIR, a CLI command
 * that writes and a second `serve` are refused and say how to proceed; once the server stops, the
 * CLI's key is written, and the server sees it on its next start: nothing is lost.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { keysCommand } from '../../src/cli/keys.js'
import { EXAMPLE_POLICY } from '../fixtures/policies.js'
import { dataDir, policyDir } from '../helpers.js'
import { startServe, until } from '../support/process.js'

// Three real starts of the embedded database: far slower than one test file's usual share.
t.setTimeout(360_000)

t.test('serve on the embedded database owns its DATA_DIR', async (t) => {
  const dir = await dataDir(t)
  // No DATABASE_URL whatever the suite runs on: this is about the embedded database.
  const env = { DATA_DIR: dir, POLICY_PATH: policyDir(t, { 'main.yaml': EXAMPLE_POLICY }), POLICY_WATCH: 'false' }
  const server = startServe(env)
  t.teardown(() => { server.child.kill('SIGKILL') })
  const base = await until('the server to listen', () => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(server.output())?.[1], 120_000)

  const out: string[] = []
  const err: string[] = []
  const cli = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }
  const create = ['create', '--principal', 'ci', '--role', 'scheduler', '--tenant', 'default']
  t.equal(await keysCommand(create, cli, { DATA_DIR: dir, LOG_LEVEL: 'silent' }), 1, 'keys create is refused while serve runs')
  t.equal(out.length, 0, 'and prints no token that would not work')
  t.match(err.join('\n'), new RegExp(`in use by process ${server.child.pid as number}`), 'naming the process')
  t.match(err.join('\n'), /POST \/keys/, 'and saying how to do it instead')

  const second = startServe(env)
  t.teardown(() => { second.child.kill('SIGKILL') })
  t.equal(await second.exited, 1, 'a second serve on the same DATA_DIR refuses to start')
  t.match(second.output(), /the data directory .* is in use by process/)
  t.equal((await fetch(`${base}/ready`)).status, 200, 'the first server is unharmed')

  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0)
  out.length = 0
  t.equal(await keysCommand(create, cli, { DATA_DIR: dir, LOG_LEVEL: 'silent' }), 0, 'once the server has stopped, the key is created')
  const token = out[0]

  const again = startServe(env)
  t.teardown(() => { again.child.kill('SIGKILL') })
  const base2 = await until('the restarted server to listen', () => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(again.output())?.[1], 120_000)
  const check = await fetch(`${base2}/check`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ job_id: 'j', topic: 'job.mcp-bridge.read.x' })
  })
  t.equal(check.status, 200, "the restarted server knows the CLI's key: nothing was lost")
  t.ok(readFileSync(path.join(dir, 'arbiter.lock'), 'utf8').includes(`"pid":${again.child.pid as number}`), 'the lock names the new owner')
  again.child.kill('SIGTERM')
  t.equal(await again.exited, 0)
})
