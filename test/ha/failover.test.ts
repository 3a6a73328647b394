/**
 * A failover loses no answered decision: a real `arbiter serve` on a primary with a synchronous
 * standby, reached through a libpq host list, under a load of checks over HTTP; the primary's
 * postmaster is killed with SIGKILL mid-load and the standby promoted. Every check answered 200
 * is in the new primary's log, the chain verifies across the switch (with the CLI's own export
 * and verify), checks resume without a restart, and what each caller saw is reported.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import pg from 'pg'
import t from 'tap'
import { loadCheckpointKey, publicKeyPem } from '../../src/audit/checkpoint-key.js'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { EXAMPLE_POLICY } from '../fixtures/policies.js'
import { policyDir, tempDir } from '../helpers.js'
import { postgresBin, startReplicatedPair } from '../support/pg-cluster.js'
import { childEnv, startServe, TYPESCRIPT_ARGS, until } from '../support/process.js'

const CALLERS = 4
/** Successful answers each caller needs before the kill, and again after the promotion. */
const WANTED = 10
/** No caller sends more than this, whatever happens. */
const MAX_REQUESTS = 600
/**
 * How long the failure goes unnoticed before the standby is promoted: longer than a check's
 * budget (1500 ms), so that checks meet a cluster with no primary (Patroni takes longer still).
 */
const DETECTION_MS = 2000

interface Answer { status: number, at: number, job: string, decisionId?: string, body: Record<string, unknown> }

/** One caller: checks one after another until told to stop, each with a job of its own. */
async function caller (base: string, token: string, id: number, stopped: () => boolean, answers: Answer[]): Promise<void> {
  for (let i = 0; i < MAX_REQUESTS && !stopped(); i++) {
    const job = `ha-${id}-${i}`
    const res = await fetch(`${base}/check`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ job_id: job, topic: 'job.mcp-bridge.read.x' }),
      signal: AbortSignal.timeout(15_000)
    })
    const body = await res.json() as Record<string, unknown>
    answers.push({ status: res.status, at: performance.now(), job, body, decisionId: res.status === 200 ? body.decision_id as string : undefined })
    // A caller told 503 waits a little, as one honouring Retry-After would (less than it says).
    if (res.status !== 200) await sleep(50)
  }
}

/** The longest time between two successful answers of a caller, in ms. */
function longestGap (answers: readonly Answer[]): number {
  const ok = answers.filter((a) => a.status === 200).map((a) => a.at)
  return ok.slice(1).reduce((max, at, i) => Math.max(max, at - ok[i]), 0)
}

/** What the new primary's log holds: each decision's job, by decision id, and the voided ones. */
async function loggedDecisions (url: string): Promise<{ jobs: Map<string, string>, voided: number }> {
  const client = new pg.Client(url)
  await client.connect()
  try {
    const { rows } = await client.query<{ decision_id: string, job_id: string, record_type: string }>(
      "select decision_id, job_id, record_type from audit_log where record_type in ('decision', 'decision.voided')")
    const decisions = rows.filter((r) => r.record_type === 'decision')
    return { jobs: new Map(decisions.map((r) => [r.decision_id, r.job_id])), voided: rows.length - decisions.length }
  } finally {
    await client.end()
  }
}

/** `arbiter …` as a child process, as an operator runs it; never rejects. */
async function arbiter (env: Record<string, string | undefined>, ...args: string[]): Promise<{ code: number, out: string }> {
  return await promisify(execFile)(process.execPath, [...TYPESCRIPT_ARGS, path.join(PACKAGE_ROOT, 'src/cli/main.ts'), ...args], { env: childEnv({ PATH: process.env.PATH, ...env }) })
    .then(({ stdout, stderr }) => ({ code: 0, out: stdout + stderr }), (err: { code: number, stdout: string, stderr: string }) => ({ code: err.code, out: err.stdout + err.stderr }))
}

/** The metrics that tell what became of the groups in flight at the kill. */
async function writerFigures (base: string, token: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text()
  const figures: Record<string, number> = {}
  for (const m of text.matchAll(/^arbiter_record_(in_doubt|late_commits|recovered_commits|requeued)_total (\d+)$/gm)) figures[m[1]] = Number(m[2])
  return figures
}

const bin = postgresBin()

t.test('failover: every answered decision survives, the chain verifies, checks resume', { skip: bin === undefined && 'no Postgres server binaries under /usr/lib/postgresql/<version>/bin' }, async (t) => {
  const began = performance.now()
  const pair = await startReplicatedPair(t, bin as string)
  t.comment(`two clusters up in ${Math.round(performance.now() - began)} ms`)
  const { primary, standby } = pair
  // The libpq host list, read-write: Arbiter is told of both servers and of nothing else.
  const url = `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/postgres?target_session_attrs=read-write`
  const dataDir = tempDir(t)
  const token = `arb_${randomBytes(32).toString('base64url')}`
  const serve = startServe({ DATA_DIR: dataDir, POLICY_PATH: policyDir(t, { 'main.yaml': EXAMPLE_POLICY }), POLICY_WATCH: 'false', DATABASE_URL: url, ARBITER_ADMIN_TOKEN: token })
  t.teardown(() => { serve.child.kill('SIGKILL') })
  const base = await until('the server to listen', () => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(serve.output())?.[1])

  const answers: Answer[][] = Array.from({ length: CALLERS }, () => [])
  let stop = false
  const callers = answers.map(async (mine, i) => { await caller(base, token, i, () => stop, mine) })
  const allHave = (since: number) => (): true | undefined =>
    answers.every((mine) => mine.filter((a) => a.status === 200 && a.at > since).length >= WANTED) ? true : undefined
  try {
    await until('every caller to be answered before the failure', allHave(0), 20_000)
    const killedAt = performance.now()
    process.kill(primary.postmasterPid(), 'SIGKILL')
    await sleep(DETECTION_MS)
    await pair.promote(standby)
    const promotedAt = performance.now()
    t.comment(`primary killed; standby promoted ${Math.round(promotedAt - killedAt)} ms later`)
    await until('every caller to be answered again after the promotion', allHave(promotedAt), 20_000)
  } catch (err) {
    t.comment(pair.logs())
    t.comment(serve.output().slice(-5000))
    throw err
  } finally {
    stop = true
    await Promise.all(callers)
  }

  const all = answers.flat()
  const statuses = new Map<number, number>()
  for (const a of all) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1)
  t.same([...statuses.keys()].filter((s) => s !== 200 && s !== 503), [], `only 200 and 503 were answered: ${JSON.stringify(Object.fromEntries(statuses))}`)
  const unrecorded = all.filter((a) => a.status === 503)
  t.ok(unrecorded.length > 0, 'checks met the outage')
  t.ok(unrecorded.every((a) => a.body.decision === 'DENY' || /^ARBITER_ERR_/.test(String(a.body.code))), 'every 503 is a DENY or a catalogued error: fail-closed')
  t.equal(serve.child.exitCode, null, 'the same Arbiter process throughout')
  t.equal(serve.output().match(/Server listening at/g)?.length, 1, 'never restarted')
  for (const [i, mine] of answers.entries()) {
    t.comment(`caller ${i}: ${mine.length} checks, ${mine.filter((a) => a.status === 200).length} answered 200, ${mine.filter((a) => a.status === 503).length} answered 503; longest gap between two 200s: ${Math.round(longestGap(mine))} ms`)
  }
  const figures = await writerFigures(base, token)
  // A graceful stop signs a checkpoint on the new primary: the export below is covered by it.
  serve.child.kill('SIGTERM')
  t.equal(await serve.exited, 0, 'stops cleanly on the new primary')

  // Every decision answered 200 is in the new primary's log, as the job it was answered for.
  const logged = await loggedDecisions(standby.url)
  const answered = all.filter((a) => a.status === 200)
  const missing = answered.filter((a) => logged.jobs.get(a.decisionId as string) !== a.job)
  t.same(missing.map((a) => a.job), [], `all ${answered.length} decisions answered 200 are in the new primary's log`)
  // Records of checks answered 503 may be there too (a commit whose answer was lost): the
  // writer's figures say how each was accounted for.
  t.comment(`writer: ${JSON.stringify(figures)}; decisions in the log ${logged.jobs.size} (answered 200: ${answered.length}), decision.voided records ${logged.voided}`)

  // The chain across the switch, checked by the project's own tools: the CLI exports through
  // the same host list (re-verifying every log from its first record), then verifies the file.
  const evidence = path.join(dataDir, 'evidence.jsonl')
  const exported = await arbiter({ DATA_DIR: dataDir, DATABASE_URL: url }, 'audit', 'export', '--out', evidence)
  t.equal(exported.code, 0, exported.out)
  const pem = path.join(dataDir, 'checkpoint.pem')
  writeFileSync(pem, publicKeyPem(await loadCheckpointKey({ dataDir, keyFile: path.join(dataDir, 'ed25519.key') })))
  const verified = await arbiter({}, 'audit', 'verify', evidence, '--public-key', pem, '--hmac-key', path.join(dataDir, 'hmac.key'))
  t.equal(verified.code, 0, verified.out)
  const checked = /checked (\d+) records, \d+ checkpoints: OK/.exec(verified.out)
  t.ok(checked !== null && Number(checked[1]) >= answered.length, `the verified file holds every answered decision: ${checked?.[0] ?? verified.out}`)
  t.comment(`wall time ${Math.round(performance.now() - began)} ms`)
})
