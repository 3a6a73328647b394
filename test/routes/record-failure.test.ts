/**
 * No decision leaves Arbiter unrecorded, and none takes longer than the budget: when the
 * database stalls or disappears, /check answers 503 DENY with Retry-After, within the budget,
 * and nothing it answered that way is found committed afterwards.
 */
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import t, { type Test } from 'tap'
import { openPostgres, type Database } from '../../src/store/db.js'
import { countRecords } from '../../src/store/log-read.js'
import { DATABASE_URL, holdTableLock, ON_POSTGRES, testApp, testDatabase } from '../helpers.js'

const BUDGET_MS = 300
// Generous: this proves the answer does not hang, not how fast it is (that is the benchmark's job).
const HANG_BOUND_MS = BUDGET_MS + 1500

/**
 * These tests are about recording: with keys checked, the key lookup would meet the failing
 * database first and answer 503 AUTH_UNAVAILABLE (test/routes/auth.test.ts covers that).
 */
const RECORD_PATH_ONLY = { ARBITER_AUTH: 'disabled' }

t.test('a stalled database: 503 DENY within the budget, nothing committed late', async (t) => {
  const ctx = await testApp(t, { env: { CHECK_BUDGET_MS: String(BUDGET_MS), ...RECORD_PATH_ONLY } })
  const release = await holdTableLock(ctx.testDb, 'audit_log')

  const started = performance.now()
  const answers = await Promise.all([1, 2, 3].map(async (i) => await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: `stall-${i}`, topic: 'job.mcp-bridge.read.x' } })))
  const elapsed = performance.now() - started
  for (const res of answers) {
    t.equal(res.statusCode, 503)
    t.equal(res.headers['retry-after'], '1')
    const body = res.json()
    t.equal(body.code, 'ARBITER_ERR_RECORD_UNAVAILABLE')
    t.equal(body.decision, 'DENY')
    t.match(body.reason, /could not be recorded/)
    t.match(body.job_hash, /^sha256:/)
  }
  t.ok(elapsed < HANG_BOUND_MS, `answered after ${Math.round(elapsed)} ms (budget ${BUDGET_MS} ms)`)

  await release()
  t.equal(await countRecords(ctx.db), 0, 'none of the 503 answers is in the log')
  const after = await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'after', topic: 'job.mcp-bridge.read.x' } })
  t.equal(after.statusCode, 200, 'recording resumes once the database does')
  t.equal(await countRecords(ctx.db), 1)
  t.equal(ctx.app.auditWriter.stats.lateCommits, 0)
})

/** A TCP relay to Postgres that a test can cut, as a network failure would. */
async function relay (t: Test, target: URL): Promise<{ url: string, cut: () => void }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname)
    sockets.add(client).add(upstream)
    client.pipe(upstream).pipe(client)
    const drop = (): void => { client.destroy(); upstream.destroy() }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  const cut = (): void => {
    server.close()
    for (const s of sockets) s.destroy()
  }
  t.teardown(cut)
  const url = new URL(target.href)
  url.hostname = '127.0.0.1'
  url.port = String(port)
  return { url: url.href, cut }
}

t.test('an unreachable database: 503 DENY within the budget, and /ready says so', async (t) => {
  let db: Database
  let lose: () => Promise<void>
  if (ON_POSTGRES) {
    const { schema } = await testDatabase(t)
    const proxy = await relay(t, new URL(DATABASE_URL as string))
    db = openPostgres(proxy.url, { schema, connectionTimeoutMillis: BUDGET_MS, onError: () => {} })
    t.teardown(async () => await db.close().catch(() => {}))
    lose = async () => { proxy.cut() }
  } else {
    db = (await testDatabase(t)).db
    lose = async () => { await db.close() }
  }
  const ctx = await testApp(t, { env: { CHECK_BUDGET_MS: String(BUDGET_MS), ...RECORD_PATH_ONLY }, deps: { db } })
  const ok = await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'before', topic: 'job.mcp-bridge.read.x' } })
  t.equal(ok.statusCode, 200)
  t.equal((await ctx.app.inject({ url: '/ready' })).statusCode, 200)

  await lose()
  const started = performance.now()
  const res = await ctx.app.inject({ method: 'POST', url: '/check', payload: { job_id: 'after', topic: 'job.mcp-bridge.read.x' } })
  const elapsed = performance.now() - started
  t.equal(res.statusCode, 503)
  t.equal(res.json().decision, 'DENY')
  t.equal(res.json().code, 'ARBITER_ERR_RECORD_UNAVAILABLE')
  t.ok(elapsed < HANG_BOUND_MS, `answered after ${Math.round(elapsed)} ms`)

  const ready = await ctx.app.inject({ url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.json().code, 'ARBITER_ERR_NOT_READY')
  t.equal((await ctx.app.inject({ url: '/health' })).statusCode, 200, 'the process itself is up')
})
