/**
 * `npm run bench:scaling`: how /check scales with Arbiter processes and tenants on one Postgres
 * server. For 1, 2 and 4 `arbiter serve` processes (as replicas run: one schema, the same key
 * files, one admin token) and 1 or 8 tenants, the same total number of connections is spread
 * over the processes, and the run reports the throughput and what each check cost in CPU:
 * Arbiter's processes, Postgres's processes and the load generator, read from /proc. The model
 * built from these figures is in docs/scaling.md.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import os, { tmpdir } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { loadCheckpointKey } from '../src/audit/checkpoint-key.js'
import { loadHmacKey } from '../src/audit/hmac-key.js'
import { PACKAGE_ROOT } from '../src/paths.js'
import { hostBusy } from './measure.js'
import { percentile, runLoad, type LoadResult } from './load.js'

const DATABASE_URL = process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== ''
  ? process.env.DATABASE_URL
  : 'postgres://postgres@127.0.0.1:5432/test'
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const INSTANCES = (process.env.BENCH_INSTANCES ?? '1,2,4').split(',').map(Number)
const TENANTS = (process.env.BENCH_TENANTS ?? '1,8').split(',').map(Number)
/** Each configuration is run this many times, the configurations interleaved (the host drifts). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)
const MAIN = path.join(PACKAGE_ROOT, 'dist/src/cli/main.js')
const TICK_MS = 1000 / 100 // /proc's clock ticks (USER_HZ is 100 on Linux)

/**
 * User + system CPU milliseconds of a process so far (with `children`, also those of its exited
 * children it has waited for); 0 for one that is gone.
 */
function processCpuMs (pid: number, children = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces) start at its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const own = Number(fields[11]) + Number(fields[12])
    return (children ? own + Number(fields[13]) + Number(fields[14]) : own) * TICK_MS
  } catch {
    return 0
  }
}

/**
 * CPU milliseconds of every process named `postgres`: the server and its live backends, plus
 * what the backends that have exited spent (the postmaster reaps them: its children's time).
 */
function postgresCpuMs (): number {
  let ms = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') ms += processCpuMs(Number(entry), true)
    } catch {}
  }
  return ms
}

interface Instance { child: ChildProcess, url: string }

/** A port free on 127.0.0.1 now (the instance logs only warnings, so it cannot say which it took). */
async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function startInstance (env: Record<string, string>): Promise<Instance> {
  const url = `http://127.0.0.1:${await freePort()}`
  const child = spawn(process.execPath, [MAIN, 'serve'], { env: { PATH: process.env.PATH, ...env, PORT: new URL(url).port }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (d) => { output += String(d) })
  child.stderr?.on('data', (d) => { output += String(d) })
  for (let i = 0; i < 300 && child.exitCode === null; i++) {
    if (await fetch(`${url}/ready`).then((r) => r.ok, () => false)) return { child, url }
    await sleep(50)
  }
  child.kill('SIGKILL')
  throw new Error(`arbiter serve did not start:\n${output}`)
}

async function stopInstance (instance: Instance): Promise<void> {
  const exited = new Promise((resolve) => instance.child.once('exit', resolve))
  instance.child.kill('SIGTERM')
  await exited
}

interface Row { instances: number, tenants: number, load: LoadResult[], wallMs: number, arbiterMs: number, postgresMs: number, generatorMs: number, busy: number, groups: number, grouped: number }

/** Record groups committed and the records in them, over every instance (their /metrics). */
async function groupTotals (instances: Instance[]): Promise<{ groups: number, records: number }> {
  let groups = 0
  let records = 0
  for (const i of instances) {
    const text = await (await fetch(`${i.url}/metrics`, { headers: { authorization: AUTHORIZATION } })).text()
    for (const m of text.matchAll(/^arbiter_record_group_size_(count|sum)(?:\{[^}]*\})? (\S+)$/gm)) {
      if (m[1] === 'count') groups += Number(m[2])
      else records += Number(m[2])
    }
  }
  return { groups, records }
}

async function run (instances: Instance[], tenants: number): Promise<Row> {
  process.env.BENCH_TENANTS = String(tenants) // read by setup-request.cjs, loaded afresh per run
  const groups0 = await groupTotals(instances)
  const arbiter0 = instances.map((i) => processCpuMs(i.child.pid as number))
  const postgres0 = postgresCpuMs()
  const generator0 = process.cpuUsage()
  const busy = hostBusy(SECONDS * 1000)
  const t0 = performance.now()
  const per = Math.max(1, Math.round(CONNECTIONS / instances.length))
  const load = await Promise.all(instances.map(async (i) => await runLoad({
    label: `${instances.length}×${tenants}`, url: `${i.url}/check`, durationSec: SECONDS, connections: per, workers: 0, authorization: AUTHORIZATION
  })))
  const wallMs = performance.now() - t0
  const generator = process.cpuUsage(generator0)
  const groups1 = await groupTotals(instances)
  return {
    groups: groups1.groups - groups0.groups,
    grouped: groups1.records - groups0.records,
    instances: instances.length,
    tenants,
    load,
    wallMs,
    arbiterMs: instances.reduce((sum, i, k) => sum + processCpuMs(i.child.pid as number) - arbiter0[k], 0),
    postgresMs: postgresCpuMs() - postgres0,
    generatorMs: (generator.user + generator.system) / 1000,
    busy: await busy
  }
}

const TOKEN = `arb_${randomBytes(32).toString('base64url')}`
const AUTHORIZATION = `Bearer ${TOKEN}`

async function admin (sql: string): Promise<Array<Record<string, unknown>>> {
  const c = new pg.Client({ connectionString: DATABASE_URL })
  await c.connect()
  try { return (await c.query(sql)).rows } finally { await c.end() }
}

async function main (): Promise<number> {
  const schema = `arbiter_scaling_${randomBytes(6).toString('hex')}`
  const dataDir = mkdtempSync(path.join(tmpdir(), 'arbiter-scaling-'))
  await admin(`create schema ${schema}`)
  const url = new URL(DATABASE_URL)
  url.searchParams.set('options', `-c search_path=${schema}`)
  // Replicas share the key files: made once, before any of them starts.
  await loadHmacKey({ dataDir })
  await loadCheckpointKey({ dataDir })
  const env = { DATABASE_URL: url.href, DATA_DIR: dataDir, POLICY_PATH: path.join(PACKAGE_ROOT, 'policies'), POLICY_WATCH: 'false', LOG_LEVEL: 'warn', ARBITER_ADMIN_TOKEN: TOKEN }
  const instances: Instance[] = []
  const rows: Row[] = []
  let code = 0
  try {
    // The first creates the admin key from the token; the others find it.
    instances.push(await startInstance(env))
    while (instances.length < Math.max(...INSTANCES)) instances.push(await startInstance(env))
    const [pgVersion] = await admin("select current_setting('server_version') as v, current_setting('synchronous_commit') as s")
    console.log('Arbiter scaling: /check on one Postgres server, by Arbiter processes and tenants')
    console.log(`  cpu ${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length}; postgres ${String(pgVersion.v)} (synchronous_commit=${String(pgVersion.s)}); ${CONNECTIONS} connections in all, ${SECONDS} s per run, ${ROUNDS} rounds interleaved`)
    console.log(`  host busy before the run: ${((await hostBusy(1000)) * 100).toFixed(0)} %`)
    // Warm-up: JIT, pools and caches of every process.
    await run(instances, 1)
    for (let round = 0; round < ROUNDS; round++) {
      for (const n of INSTANCES) for (const tenants of TENANTS) rows.push(await run(instances.slice(0, n), tenants))
    }
    const head = `  ${'processes'.padEnd(10)}${'tenants'.padEnd(8)}${'req/s'.padStart(8)}${'p50 ms'.padStart(8)}${'p99 ms'.padStart(8)}${'non2xx'.padStart(8)}${'group'.padStart(7)}   CPU ms per check: ${'arbiter'.padStart(8)}${'postgres'.padStart(9)}${'loadgen'.padStart(9)}${'total'.padStart(7)}${'host'.padStart(7)}`
    console.log(head)
    for (const r of rows) {
      const ok = r.load.reduce((s, l) => s + l.ok2xx, 0)
      const per = (ms: number): string => (ms / Math.max(1, ok)).toFixed(3)
      const p50 = percentile(r.load.map((l) => l.p50), 0.5)
      const p99 = Math.max(...r.load.map((l) => l.p99))
      console.log(`  ${String(r.instances).padEnd(10)}${String(r.tenants).padEnd(8)}${Math.round(ok / (r.wallMs / 1000)).toLocaleString('en-US').padStart(8)}${String(p50).padStart(8)}${String(p99).padStart(8)}${String(r.load.reduce((s, l) => s + l.non2xx + l.errors, 0)).padStart(8)}${(r.grouped / Math.max(1, r.groups)).toFixed(1).padStart(7)}   ${''.padStart(18)}${per(r.arbiterMs).padStart(8)}${per(r.postgresMs).padStart(9)}${per(r.generatorMs).padStart(9)}${per(r.arbiterMs + r.postgresMs + r.generatorMs).padStart(7)}${`${(r.busy * 100).toFixed(0)}%`.padStart(7)}`)
    }
    console.log('  (req/s = 2xx answers over the run\'s wall time; p50 = median of the processes\' medians, p99 = the worst process\'s;')
    console.log('   group = records per committed group, mean over every process (arbiter_record_group_size);')
    console.log('   CPU per check from /proc: every arbiter process, every postgres process, this load generator; host = busy share of all cores)')
    const [{ n }] = await admin(`select count(*)::int as n from ${schema}.audit_log where record_type = 'decision'`) as Array<{ n: number }>
    const answered = rows.reduce((s, r) => s + r.load.reduce((t, l) => t + l.ok2xx, 0), 0)
    // Warm-up answers are in the log too, and a run can end with requests in flight.
    const ok = Number(n) >= answered
    console.log(`  decision records ${Number(n).toLocaleString('en-US')} ≥ 2xx answers counted ${answered.toLocaleString('en-US')}: ${ok ? 'OK' : 'MISMATCH'}`)
    if (!ok) code = 1
  } finally {
    for (const i of instances) await stopInstance(i)
    await admin(`drop schema ${schema} cascade`)
    rmSync(dataDir, { recursive: true, force: true })
  }
  return code
}

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  console.error('bench failed:', err)
  process.exitCode = 1
})
