/**
 * `arbiter policy replay` as CI runs it: against the database `arbiter serve` used (a Postgres
 * schema, or the embedded database in DATA_DIR once the service has let go of it), with its
 * formats and exit codes.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { replayCommand } from '../../src/cli/replay.js'
import type { Output } from '../../src/cli/output.js'
import { openEmbedded } from '../../src/store/db.js'
import { DATABASE_URL, dataDir, EXAMPLE_POLICY_DIR, ON_POSTGRES, policyDir, tempDir, testApp, testDatabase, type TestDb } from '../helpers.js'

const BASE = readFileSync(path.join(EXAMPLE_POLICY_DIR, 'base.yaml'), 'utf8')

type Io = Output & { lines: string[], errors: string[] }
function capture (): Io {
  const io: Io = { lines: [], errors: [], out: (l) => io.lines.push(l), err: (l) => io.errors.push(l) }
  return io
}

/** A database with 60 decisions of the shipped base policy, and the environment the CLI reaches it with. */
async function recorded (t: Test): Promise<Record<string, string>> {
  const dir = await dataDir(t)
  let testDb: TestDb
  let env: Record<string, string>
  if (ON_POSTGRES) {
    testDb = await testDatabase(t)
    const url = new URL(DATABASE_URL as string)
    url.searchParams.set('options', `-c search_path=${testDb.schema as string}`)
    env = { DATABASE_URL: url.href, DATA_DIR: dir }
  } else {
    const db = await openEmbedded(path.join(dir, 'pgdata'))
    testDb = { db, open: async () => db }
    env = { DATA_DIR: dir }
  }
  const ctx = await testApp(t, { testDb, policies: { 'base.yaml': BASE }, env: { CHECK_BUDGET_MS: '30000' } })
  for (let i = 0; i < 60; i++) {
    const res = await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: `j${i}`, topic: ['job.agent.exec.shell', 'job.mcp-bridge.write.ticket', 'job.mcp-bridge.read.ticket'][i % 3], tenant_id: ['acme', 'globex'][i % 2], risk_tags: i % 3 === 0 ? ['medium'] : [] } })
    t.equal(res.statusCode, 200)
  }
  // The embedded database has one user at a time: the service lets go of it first.
  await ctx.app.close()
  if (!ON_POSTGRES) await testDb.db.close()
  return env
}

t.test('formats and exit codes', async (t) => {
  const env = await recorded(t)
  const tighter = policyDir(t, { 'base.yaml': BASE.replace('    decision: allow_with_constraints\n', '    decision: require_approval\n') })
  const looser = policyDir(t, { 'base.yaml': BASE, 'more.yaml': 'version: v1\nrules:\n  - id: allow-writes\n    match: { topics: ["job.mcp-bridge.write.*"] }\n    decision: allow\n' })
  const run = async (...args: string[]): Promise<{ code: number, io: Io }> => {
    const io = capture()
    return { code: await replayCommand(args, io, env), io }
  }

  const text = await run('--candidate', tighter)
  t.equal(text.code, 0, text.io.errors.join('\n'))
  t.match(text.io.lines.join('\n'), /replayed 60 decision\(s\)[^]*would change: 20 \(33\.33 %\): 0 loosened, 20 tightened/)

  const json = await run('--candidate', tighter, '--format', 'json', '--fail-on', 'ALLOW_WITH_CONSTRAINTS>REQUIRE_APPROVAL')
  t.equal(json.code, 3, 'a forbidden change exits 3')
  const report = JSON.parse(json.io.lines.join('\n'))
  t.same(report.failures, [{ fail_on: 'ALLOW_WITH_CONSTRAINTS>REQUIRE_APPROVAL', count: 20 }])
  t.match(json.io.errors, [/replayed 60/, /20 change\(s\) match --fail-on ALLOW_WITH_CONSTRAINTS>REQUIRE_APPROVAL/], 'CI gets a summary on stderr')

  t.equal((await run('--candidate', tighter, '--fail-on', 'any-loosening')).code, 0, 'a tightening is no loosening')
  t.equal((await run('--candidate', looser, '--fail-on', 'any-loosening')).code, 3, 'a loosening is')

  const out = path.join(tempDir(t), 'replay.html')
  t.equal((await run('--candidate', looser, '--format', 'html', '--out', out, '--tenant', 'acme')).code, 0)
  const html = readFileSync(out, 'utf8')
  t.match(html, /<h1>Policy replay<\/h1>/)
  t.match(html, /Replayed 30 decision/, '--tenant replays that tenant only')

  const broken = policyDir(t, { 'base.yaml': 'version: v1\nrules: [' })
  const refused = await run('--candidate', broken)
  t.equal(refused.code, 1, 'a candidate that does not load exits 1')
  t.match(refused.io.errors.join('\n'), /base\.yaml:\d+: YAML syntax/)

  for (const args of [[], ['--candidate', tighter, '--format', 'pdf'], ['--candidate', tighter, '--fail-on', 'ALLOW>MAYBE'], ['--candidate', tighter, '--since', '1d', '--until', '2d'], ['--candidate', tighter, '--examples', '-1'], ['--candidate', tighter, '--since', 'yesterday']]) {
    t.equal((await run(...args)).code, 2, `misuse exits 2: ${args.join(' ')}`)
  }
})

t.test('no database to read is a usage error, not a new database', async (t) => {
  if (ON_POSTGRES) return
  const io = capture()
  t.equal(await replayCommand(['--candidate', policyDir(t)], io, { DATA_DIR: tempDir(t) }), 2)
  t.match(io.errors.join('\n'), /no database/)
})
