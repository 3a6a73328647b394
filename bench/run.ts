/**
 * `npm run bench`: Arbiter's /check on a real Postgres server against a bare Fastify echo, at
 * saturation and at a fixed 2,000 requests/s, plus pure policy evaluation at 10 to 10,000 rules;
 * with BENCH_PEERS=cerbos, Cerbos beside it. Everything runs against 127.0.0.1. See docs/performance.md.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os, { tmpdir } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { benchAgainstCerbos } from './cerbos.js'
import { benchEvaluation } from './evaluation.js'
import { hostBusy, measure, type Phase } from './measure.js'
import { PACKAGE_ROOT } from '../src/paths.js'
import { benchReplay } from './replay.js'
import { postgresFacts, startArbiter, startEcho, type Arbiter } from './servers.js'

const DATABASE_URL = process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== ''
  ? process.env.DATABASE_URL
  : 'postgres://postgres@127.0.0.1:5432/test'
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64)
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1)
const FIXED_RATE = 2000
/** The lower paced rate of issue 16's targets (p99 ≤ 3 ms there, ≤ 6 ms at FIXED_RATE). */
const LOW_RATE = 1000
const SHADOW_RATE = 500
const REPLAY_RECORDS = Number(process.env.BENCH_REPLAY_RECORDS ?? 50_000)

const f1 = (x: number): string => x.toFixed(1)
const int = (x: number): string => Math.round(x).toLocaleString('en-US')
const pad = (s: string, n: number): string => s.padStart(n)

function loadTable (phases: Phase[]): string[] {
  const head = `  ${'run'.padEnd(30)}${pad('req/s', 9)}${pad('p50 ms', 8)}${pad('p99 ms', 8)}${pad('max ms', 8)}${pad('2xx', 9)}${pad('non2xx', 8)}${pad('errors', 8)}${pad('ELU', 6)}${pad('node', 6)}${pad('host', 6)}`
  return [head, ...phases.map((p) =>
    `  ${p.label.padEnd(30)}${pad(int(p.rpsMean), 9)}${pad(String(p.p50), 8)}${pad(String(p.p99), 8)}${pad(String(p.max), 8)}` +
    `${pad(int(p.ok2xx), 9)}${pad(String(p.non2xx), 8)}${pad(String(p.errors + p.timeouts), 8)}${pad(p.elu.toFixed(2), 6)}${pad(p.cpu.toFixed(2), 6)}${pad(p.machineBusy.toFixed(2), 6)}`)]
}

async function main (): Promise<number> {
  const started = performance.now()
  const cpus = os.cpus()
  const pgFacts = await postgresFacts(DATABASE_URL)
  const idle = await hostBusy(1000)
  const print = (line = ''): void => { console.log(line) }
  print('Arbiter benchmark')
  print(`  cpu        ${cpus[0]?.model ?? 'unknown'} × ${cpus.length} (available parallelism ${os.availableParallelism()})`)
  print(`  memory     ${f1(os.totalmem() / 2 ** 30)} GiB total, ${f1(os.freemem() / 2 ** 30)} GiB free`)
  print(`  host load  ${(idle * 100).toFixed(0)} % of all cores busy in the second before the run (others' work); load average ${os.loadavg().map(f1).join(' ')}`)
  print(`  os / node  ${os.type()} ${os.release()} ${os.arch()} / node ${process.version}`)
  print(`  postgres   ${pgFacts.version} (fsync=${pgFacts.fsync}, synchronous_commit=${pgFacts.synchronous_commit}) at ${new URL(DATABASE_URL).host}`)
  print()

  print('Pure evaluation: evaluate(policy, normalizeJob(job)) over 1,000 varied jobs, 100,000 calls; no HTTP, no database')
  print(`  ${'rules'.padEnd(22)}${pad('compile ms', 11)}${pad('ns/op', 9)}${pad('ops/s', 11)}${pad('candidates', 12)}${pad('matched', 9)}  decisions`)
  for (const [n, globalEvery] of [[10, 100], [1_000, 100], [10_000, 100], [10_000, 0]]) {
    const r = benchEvaluation(n, globalEvery)
    const mix = Object.entries(r.decisions).sort().map(([d, c]) => `${d}=${c}`).join(' ')
    const label = `${int(n)} (${globalEvery === 0 ? 'no global rules' : '1% global'})`
    print(`  ${label.padEnd(22)}${pad(f1(r.compileMs), 11)}${pad(int(r.nsPerOp), 9)}${pad(int(r.opsPerSec), 11)}${pad(f1(r.meanCandidates), 12)}${pad(f1(r.meanMatched), 9)}  ${mix}`)
  }
  print('  (compile = YAML parse + schema check + compile; candidates = rules the topic index hands to the matcher per job;')
  print('   a global rule has no literal topic prefix, e.g. `**.purge`, so it is a candidate for every job)')
  print()

  const replay = await benchReplay(DATABASE_URL, REPLAY_RECORDS)
  print(`Policy replay: ${int(replay.records)} decision records of a 100-rule policy on Postgres (written in ${f1(replay.fillSec)} s), judged again under a candidate`)
  print(`  runs: ${replay.runs.map((r) => `${int(r.perSec)}/s (${f1(r.sec)} s)`).join(', ')}; ${int(replay.result.changed)} would change`)
  print('  (paging the log out of Postgres, parsing each record, evaluating its job and counting, end to end; the first run compiles the live snapshot and warms the JIT)')
  print()

  const echo = await startEcho()
  let arbiter: Arbiter | undefined
  let code = 0
  try {
    arbiter = await startArbiter(DATABASE_URL)
    const echoUrl = `${echo.url}/echo`
    const checkUrl = `${arbiter.url}/check`
    const load = { connections: CONNECTIONS, workers: WORKERS, authorization: arbiter.authorization }
    // Warm-up (not reported): JIT, pools, Postgres caches.
    await measure({ label: 'warm-up', url: echoUrl, durationSec: 2, ...load })
    const warm = await measure({ label: 'warm-up', url: checkUrl, durationSec: 2, ...load }, arbiter)
    const phases = [
      await measure({ label: 'bare echo, saturation', url: echoUrl, durationSec: SECONDS, ...load }),
      await measure({ label: 'Arbiter /check, saturation', url: checkUrl, durationSec: SECONDS, ...load }, arbiter),
      await measure({ label: `bare echo, ${int(FIXED_RATE)} req/s`, url: echoUrl, durationSec: SECONDS, overallRate: FIXED_RATE, ...load }),
      await measure({ label: `Arbiter /check, ${int(FIXED_RATE)} req/s`, url: checkUrl, durationSec: SECONDS, overallRate: FIXED_RATE, ...load }, arbiter),
      await measure({ label: `Arbiter /check, ${int(LOW_RATE)} req/s`, url: checkUrl, durationSec: SECONDS, overallRate: LOW_RATE, ...load }, arbiter)
    ]
    // A scheduler checking one job at a time: latency, and the server thread's time per check.
    const one = { connections: 1, workers: WORKERS, authorization: arbiter.authorization }
    const single = [
      await measure({ label: 'bare echo, 1 connection', url: echoUrl, durationSec: SECONDS, ...one }),
      await measure({ label: 'Arbiter /check, 1 connection', url: checkUrl, durationSec: SECONDS, ...one }, arbiter)
    ]
    const where = WORKERS > 0 ? `${WORKERS} worker thread(s) of this process` : 'the servers\' own thread'
    print(`HTTP load: autocannon in ${where}, ${CONNECTIONS} connections, pipelining 1, ${SECONDS} s per run`)
    for (const line of loadTable(phases)) print(line)
    print('  (ELU = event-loop utilisation of the thread running both servers; node = this process\'s CPU seconds')
    print('   per second, autocannon included; host = busy share of all cores, Postgres included)')
    print(`  Arbiter saturated throughput / bare endpoint: ${(phases[1].rpsMean / phases[0].rpsMean * 100).toFixed(1)} % (×${(phases[0].rpsMean / phases[1].rpsMean).toFixed(1)} slower)`)
    print()
    print(`One connection, requests back to back (a scheduler checking one job at a time), ${SECONDS} s per run`)
    for (const line of loadTable(single)) print(line)
    const threadMs = (p: Phase): number => p.elu * p.durationSec * 1000 / Math.max(1, p.ok2xx)
    print(`  server-thread time per request (ELU × run time / answers): echo ${threadMs(single[0]).toFixed(3)} ms, /check ${threadMs(single[1]).toFixed(3)} ms`)
    print()

    print('Group commit: a group sealed ahead is one statement (append + commit); one sealed under the head lock, a transaction')
    for (const p of [phases[1], phases[3]]) {
      const g = p.groups
      if (g === undefined) continue
      const m = g.mean
      print(`  ${p.label}: ${int(g.count)} groups, ${f1(g.count / p.durationSec)}/s; records per group mean ${f1(g.meanSize)}, p10/p50/p90/max ${g.sizes.join('/')}`)
      print(`    group ms: p50 ${f1(g.totalP50)}, p99 ${f1(g.totalP99)}, mean ${f1(m.total)} = checkout(+begin) ${f1(m.begin)} + head lock ${f1(m.set)}` +
        ` + append(+commit) ${f1(m.insert)} + commit ${f1(m.commit)} + in-between ${f1(m.total - m.begin - m.set - m.insert - m.commit)}`)
    }
    print()

    // Jobs that need approval, on an instance of their own whose queue does not fill (a full
    // queue answers DENY without opening one): every job, at saturation; then one job in ten,
    // paced, where the other nine should not wait on the approvals' transactions.
    const approving = await startArbiter(DATABASE_URL, undefined, { env: { MAX_PENDING_APPROVALS: '1000000' } })
    try {
      const approvalUrl = `${approving.url}/check`
      const onApproving = { ...load, authorization: approving.authorization }
      const approvalPhases: Phase[] = []
      for (const [every, label, rate] of [[1, 'every job needs approval, saturation', undefined], [10, `one job in ten, ${int(LOW_RATE)} req/s`, LOW_RATE], [10, 'one job in ten, saturation', undefined]] as const) {
        process.env.BENCH_APPROVAL_EVERY = String(every) // read by setup-request.cjs, loaded afresh per run
        if (approvalPhases.length === 0) await measure({ label: 'warm-up', url: approvalUrl, durationSec: 2, ...onApproving }, approving)
        approvalPhases.push(await measure({ label, url: approvalUrl, durationSec: SECONDS, ...(rate === undefined ? {} : { overallRate: rate }), ...onApproving }, approving))
      }
      delete process.env.BENCH_APPROVAL_EVERY
      const opened = await approving.countApprovals()
      print(`Jobs that need approval: each opens one in a transaction of its tenant's log (one tenant here), ${CONNECTIONS} connections`)
      for (const line of loadTable(approvalPhases)) print(line)
      for (const p of approvalPhases) {
        if (p.others !== undefined) print(`  ${p.label}: the ${int(p.others.count)} checks not needing approval: p50 ${p.others.p50} ms, p99 ${p.others.p99} ms`)
      }
      print(`  approvals opened: ${int(opened)} (MAX_PENDING_APPROVALS=1000000 on this instance, so none is refused for a full queue)`)
      print()
    } finally {
      await approving.close()
    }

    // Shadow mode: the same paced load on an instance that also judges every check under a
    // candidate, between two runs on the plain instance (interleaved: the host drifts).
    const shadowDir = mkdtempSync(path.join(tmpdir(), 'arbiter-bench-shadow-'))
    cpSync(path.join(PACKAGE_ROOT, 'policies'), shadowDir, { recursive: true })
    const base = path.join(shadowDir, 'base.yaml')
    writeFileSync(base, readFileSync(base, 'utf8').replace('    decision: allow_with_constraints\n', '    decision: require_approval\n'))
    const shadowed = await startArbiter(DATABASE_URL, shadowDir)
    try {
      const shadowedUrl = `${shadowed.url}/check`
      await measure({ label: 'warm-up', url: shadowedUrl, durationSec: 2, ...load, authorization: shadowed.authorization }, shadowed)
      // Well below saturation, so that what the shadow adds shows in the latency rather than in
      // a queue; and one connection back to back, where it would delay the next request.
      const paced = { durationSec: SECONDS, overallRate: SHADOW_RATE, ...load }
      const backToBack = { durationSec: SECONDS, ...one }
      const shadowPhases = [
        await measure({ label: `plain, ${int(SHADOW_RATE)} req/s`, url: checkUrl, ...paced }, arbiter),
        await measure({ label: `with shadow, ${int(SHADOW_RATE)} req/s`, url: shadowedUrl, ...paced, authorization: shadowed.authorization }, shadowed),
        await measure({ label: `plain, ${int(SHADOW_RATE)} req/s`, url: checkUrl, ...paced }, arbiter),
        await measure({ label: 'plain, 1 connection', url: checkUrl, ...backToBack }, arbiter),
        await measure({ label: 'with shadow, 1 connection', url: shadowedUrl, ...backToBack, authorization: shadowed.authorization }, shadowed),
        await measure({ label: 'plain, 1 connection', url: checkUrl, ...backToBack }, arbiter)
      ]
      const sum = async (c: { get: () => Promise<{ values: Array<{ value: number }> }> }): Promise<number> => (await c.get()).values.reduce((n, v) => n + v.value, 0)
      const evaluated = await sum(shadowed.app.metrics.shadowEvaluations)
      const disagreed = await sum(shadowed.app.metrics.shadowDisagreements)
      print('Shadow mode: /check on a plain instance, one with a shadow policy, and the plain one again')
      for (const line of loadTable(shadowPhases)) print(line)
      print(`  the shadow judged ${int(evaluated)} checks after answering them and disagreed on ${int(disagreed)}`)
      print()
    } finally {
      await shadowed.close()
      rmSync(shadowDir, { recursive: true, force: true })
    }

    const rows = await arbiter.countRows()
    const answered = arbiter.answers.get(200) ?? 0
    const client2xx = [warm, phases[1], phases[3], phases[4], single[1]].reduce((a, p) => a + p.ok2xx, 0)
    const other = [...arbiter.answers].filter(([s]) => s !== 200).map(([s, c]) => `${s}×${c}`).join(', ') || 'none'
    const stats = arbiter.app.auditWriter.stats
    print('Recorded vs answered (all /check runs, warm-up included)')
    print(`  decision records           ${int(rows)}`)
    print(`  2xx answers by the server  ${int(answered)}   (other statuses: ${other})`)
    print(`  2xx received by autocannon ${int(client2xx)}   (fewer when a run ends with requests in flight)`)
    print(`  writer stats               groups ${int(stats.groups)}, records ${int(stats.records)}, expired ${stats.expired}, failed groups ${stats.failedGroups}, late commits ${stats.lateCommits}, resealed ${int(stats.resealed)}`)
    const ok = rows === answered && client2xx <= answered
    print(`  ${ok ? 'OK: every 2xx answer has its row' : 'MISMATCH: rows and 2xx answers differ'}`)
    if (!ok) code = 1
  } finally {
    await arbiter?.close()
    await echo.close()
  }
  print()
  // Opt-in: installs Cerbos from the npm registry into a temporary folder (bench/cerbos.ts).
  if ((process.env.BENCH_PEERS ?? '').split(/[\s,]+/).includes('cerbos')) {
    if (!await benchAgainstCerbos({ databaseUrl: DATABASE_URL, seconds: SECONDS, workers: WORKERS, print })) code = 1
  }
  print(`Total bench time ${f1((performance.now() - started) / 1000)} s`)
  return code
}

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  console.error('bench failed:', err)
  process.exitCode = 1
})
