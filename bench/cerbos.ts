/**
 * Arbiter beside Cerbos (issue 16), when BENCH_PEERS includes `cerbos`: Cerbos is installed on
 * demand from the npm registry into a folder under the OS temp dir (never a dependency of this
 * package), given a resource policy translated rule by rule from the generated Arbiter policy,
 * and both are loaded with the same job, interleaved. Alone: `npm run build && node dist/bench/cerbos.js`.
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import yaml from 'js-yaml'
import { compilePolicy, evaluate, normalizeJob, type CheckRequest, type CompiledPolicy } from '../src/policy/index.js'
import type { CompiledRule } from '../src/policy/compile.js'
import type { Glob } from '../src/policy/glob.js'
import { DEFAULT_TENANT } from '../src/policy/job.js'
import { generatePolicyYaml, generateRequests } from './evaluation.js'
import type { LoadOptions } from './load.js'
import { hostBusy, measure, type Phase } from './measure.js'
import { startArbiter, startEcho, type Arbiter } from './servers.js'

export const CERBOS_VERSION = '0.55.0'
const CERBOS_PACKAGE = `@cerbos/cerbos-${process.platform}-${process.arch}`
/** The one action every job is checked for; Cerbos's rules are filed by action. */
const ACTION = 'dispatch'

/** Cerbos cannot be had here (no registry, no build for this platform): the bench goes on without it. */
export class CerbosUnavailable extends Error {}

const run = promisify(execFile)

/**
 * The Cerbos binary: installed with npm into `<tmpdir>/arbiter-bench-cerbos-<version>` on first
 * use and reused by later runs; never into this package's node_modules or package.json.
 */
export async function installCerbos (version = CERBOS_VERSION): Promise<string> {
  const dir = path.join(tmpdir(), `arbiter-bench-cerbos-${version}`)
  // The package is the bare binary, named after the platform (its package.json `main`).
  const binaryIn = (root: string): string => path.join(root, 'node_modules', CERBOS_PACKAGE, `cerbos-${process.platform}-${process.arch}`)
  if (existsSync(binaryIn(dir))) return binaryIn(dir)
  // Installed beside, then renamed into place: an interrupted install is never taken for a cached one.
  const partial = mkdtempSync(`${dir}.partial-`)
  try {
    await run('npm', ['install', '--prefix', partial, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--ignore-scripts', `${CERBOS_PACKAGE}@${version}`],
      { cwd: partial, timeout: 300_000 })
    if (!existsSync(binaryIn(partial))) throw new Error(`the package has no ${path.basename(binaryIn(partial))} binary`)
  } catch (err) {
    rmSync(partial, { recursive: true, force: true })
    const why = String((err as { stderr?: string }).stderr ?? '').split('\n').find((l) => l.includes('ERR!')) ?? (err as Error).message
    throw new CerbosUnavailable(`could not install ${CERBOS_PACKAGE}@${version} from the npm registry: ${why.trim()}`)
  }
  try {
    renameSync(partial, dir)
  } catch {
    rmSync(partial, { recursive: true, force: true }) // another run installed it meanwhile
  }
  return binaryIn(dir)
}

const anyGlob = (value: string, globs: readonly Glob[]): string =>
  globs.map((g) => `${value}.matches(${JSON.stringify(g.regex.source)})`).join(' || ')

/**
 * One CEL condition per match field Arbiter checks, on the same field of the same job: globs
 * become the very regular expressions Arbiter compiles them to (RE2 reads them alike).
 */
function conditions (rule: CompiledRule): string[] {
  if (rule.command !== undefined || rule.commandClasses !== undefined || rule.rateLimit !== undefined || rule.requireEvidence !== undefined) {
    throw new Error(`rule ${rule.id}: commands, rate limits and evidence are not translated to Cerbos`)
  }
  const out: string[] = []
  if (rule.topics !== undefined) out.push(anyGlob('R.attr.topic', rule.topics))
  if (rule.riskTags === null) out.push('size(R.attr.risk_tags) == 0')
  else if (rule.riskTags !== undefined) out.push(`R.attr.risk_tags.exists(t, t in ${JSON.stringify([...rule.riskTags])})`)
  if (rule.tenants !== undefined) out.push(anyGlob('R.attr.tenant', rule.tenants))
  if (rule.principals !== undefined) out.push(anyGlob('P.id', rule.principals))
  for (const [key, allowed] of rule.labels ?? []) {
    out.push(`${JSON.stringify(key)} in R.attr.labels && R.attr.labels[${JSON.stringify(key)}] in ${JSON.stringify([...allowed])}`)
  }
  return out
}

/**
 * A Cerbos resource policy that says what `policy` says, rule for rule: allow and
 * allow_with_constraints allow, the rest deny (Cerbos has no approval or throttle; a deny
 * overrides an allow, as the most restrictive decision wins in Arbiter), no rule matched is a
 * deny in both. Each rule outputs its id and decision when it matches, as Arbiter names them.
 */
export function cerbosPolicy (policy: CompiledPolicy): Record<string, unknown> {
  if (policy.derive.length > 0 || policy.defaults.decision === 'ALLOW' || policy.defaults.decision === 'ALLOW_WITH_CONSTRAINTS') {
    throw new Error('derived tags and an allowing default are not translated to Cerbos')
  }
  const rules = policy.rules.map((rule) => {
    const exprs = conditions(rule)
    const allows = rule.decision === 'ALLOW' || rule.decision === 'ALLOW_WITH_CONSTRAINTS'
    return {
      name: rule.id,
      actions: [ACTION],
      roles: ['*'],
      effect: allows ? 'EFFECT_ALLOW' : 'EFFECT_DENY',
      ...(exprs.length === 0 ? {} : { condition: { match: exprs.length === 1 ? { expr: exprs[0] } : { all: { of: exprs.map((expr) => ({ expr })) } } } }),
      output: { when: { ruleActivated: JSON.stringify(`${rule.id} ${rule.decision}`) } }
    }
  })
  return { apiVersion: 'api.cerbos.dev/v1', resourcePolicy: { resource: 'job', version: 'default', rules } }
}

/** A CheckResources body asking whether `principalId` may dispatch each job. */
export function cerbosRequest (principalId: string, jobs: readonly CheckRequest[]): Record<string, unknown> {
  return {
    requestId: 'bench',
    principal: { id: principalId, roles: ['agent'] },
    resources: jobs.map((job) => ({
      actions: [ACTION],
      resource: {
        kind: 'job',
        id: job.job_id,
        attr: { topic: job.topic, tenant: job.tenant_id ?? DEFAULT_TENANT, risk_tags: job.risk_tags ?? [], labels: job.labels ?? {} }
      }
    }))
  }
}

export interface CerbosAnswer {
  allowed: boolean
  /** The rules that matched, by the outputs their rules give. */
  rules: string[]
}

export interface Cerbos {
  url: string
  /** POST a CheckResources body here. */
  checkUrl: string
  /** CPU seconds the Cerbos process has spent, all its threads (NaN where /proc is absent). */
  cpuSeconds: () => number
  check: (body: Record<string, unknown>) => Promise<CerbosAnswer[]>
  close: () => Promise<void>
}

async function freePorts (count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, async () => await new Promise<net.Server>((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { resolve(s) })
  })))
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port)
  await Promise.all(servers.map(async (s) => await new Promise((resolve) => s.close(resolve))))
  return ports
}

let clockTicks: number | undefined
function processCpuSeconds (pid: number): number {
  try {
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) / clockTicks // utime + stime
  } catch {
    return Number.NaN
  }
}

/**
 * Cerbos serving `policy` from a temporary folder: HTTP (and gRPC) on free ports of 127.0.0.1,
 * audit off, telemetry off; resolves once its health endpoint answers.
 */
export async function startCerbos (binary: string, policy: Record<string, unknown>): Promise<Cerbos> {
  const dir = mkdtempSync(path.join(tmpdir(), 'arbiter-bench-cerbos-run-'))
  const policies = path.join(dir, 'policies')
  mkdirSync(policies)
  writeFileSync(path.join(policies, 'job.yaml'), yaml.dump(policy, { lineWidth: -1 }))
  const [httpPort, grpcPort] = await freePorts(2)
  const config = path.join(dir, 'config.yaml')
  writeFileSync(config, yaml.dump({
    server: { httpListenAddr: `127.0.0.1:${httpPort}`, grpcListenAddr: `127.0.0.1:${grpcPort}` },
    storage: { driver: 'disk', disk: { directory: policies, watchForChanges: false } },
    audit: { enabled: false },
    telemetry: { disabled: true }
  }))
  const child = spawn(binary, ['server', `--config=${config}`, '--log-level=warn'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CERBOS_NO_TELEMETRY: '1' } })
  let output = ''
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-4000) }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve() }))
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const url = `http://127.0.0.1:${httpPort}`
  for (let waited = 0; ; waited += 100) {
    if (child.exitCode !== null || waited > 30_000) {
      await close()
      throw new Error(`cerbos did not come up (${child.exitCode === null ? 'timed out' : `exited ${child.exitCode}`}):\n${output}`)
    }
    const healthy = await fetch(`${url}/_cerbos/health`).then((r) => r.ok, () => false)
    if (healthy) break
    await sleep(100)
  }
  const checkUrl = `${url}/api/check/resources`
  return {
    url,
    checkUrl,
    cpuSeconds: () => processCpuSeconds(child.pid ?? -1),
    check: async (body) => {
      const res = await fetch(checkUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      if (!res.ok) throw new Error(`cerbos answered ${res.status}: ${await res.text()}`)
      const { results } = await res.json() as { results: Array<{ actions: Record<string, string>, outputs?: Array<{ val: unknown }> }> }
      return results.map((r) => ({ allowed: r.actions[ACTION] === 'EFFECT_ALLOW', rules: (r.outputs ?? []).map((o) => String(o.val).split(' ')[0]) }))
    },
    close
  }
}

/** The generated policy of `n` rules, compiled as Arbiter compiles it. */
export function compileGenerated (yamlText: string): CompiledPolicy {
  const result = compilePolicy([{ file: 'bench.yaml', text: yamlText }])
  if (!result.ok) throw new Error(`generated policy does not compile: ${JSON.stringify(result.problems.slice(0, 3))}`)
  return result.policy
}

/**
 * The job both are asked about, with an id of its own per request: under the generated
 * policies it is allowed with constraints (each service's `exec.**` rule for medium risk).
 * No `command`: Arbiter would analyse the shell line, which Cerbos has no counterpart for.
 */
const BENCH_JOB = { topic: 'job.svc0.exec.shell', tenant_id: 'acme-eu', principal_id: 'agent:triage-bot', risk_tags: ['medium'], labels: { env: 'prod', team: 'support' } }
/** Cerbos's default limit on resources per CheckResources request. */
const CERBOS_BATCH = 50

/**
 * The rules Cerbos should name: every rule Arbiter matched, in file order, up to the first that
 * does not allow; Cerbos stops at the first deny that activates (it needs no more to answer).
 */
function expectedRules (policy: CompiledPolicy, matched: readonly string[]): string[] {
  const rules = policy.rules.filter((r) => matched.includes(r.id))
  const deny = rules.findIndex((r) => r.decision !== 'ALLOW' && r.decision !== 'ALLOW_WITH_CONSTRAINTS')
  return (deny === -1 ? rules : rules.slice(0, deny + 1)).map((r) => r.id)
}

/** The jobs of the pure-evaluation bench and the bench job on which Arbiter and Cerbos differ. */
async function disagreements (policy: CompiledPolicy, cerbos: Cerbos, n: number): Promise<string[]> {
  const jobs: CheckRequest[] = [{ job_id: 'bench-job', ...BENCH_JOB }, ...generateRequests(n, 300)]
  const out: string[] = []
  const same = (a: string[], b: string[]): boolean => [...a].sort().join() === [...b].sort().join()
  for (const principal of new Set(jobs.map((j) => j.principal_id ?? ''))) {
    const mine = jobs.filter((j) => j.principal_id === principal)
    for (let i = 0; i < mine.length; i += CERBOS_BATCH) {
      const batch = mine.slice(i, i + CERBOS_BATCH)
      const answers = await cerbos.check(cerbosRequest(principal, batch))
      batch.forEach((job, k) => {
        const ev = evaluate(policy, normalizeJob(job))
        const allowed = ev.decision === 'ALLOW' || ev.decision === 'ALLOW_WITH_CONSTRAINTS'
        if (allowed !== answers[k].allowed || !same(expectedRules(policy, ev.matched_rules), answers[k].rules)) {
          out.push(`${job.topic} ${JSON.stringify(job.risk_tags)}: Arbiter ${ev.decision} [${ev.matched_rules.join(' ')}], Cerbos ${answers[k].allowed ? 'allow' : 'deny'} [${answers[k].rules.join(' ')}]`)
        }
      })
    }
  }
  return out
}

interface Row extends Phase {
  /** Server CPU ms per answer: Arbiter's thread (event-loop utilisation), or the Cerbos process. */
  serverMs: number
}

const int = (x: number): string => Math.round(x).toLocaleString('en-US')
const pad = (s: string, n: number): string => s.padStart(n)
const HEAD = `  ${'run'.padEnd(40)}${pad('req/s', 8)}${pad('p50 ms', 8)}${pad('p99 ms', 8)}${pad('max ms', 8)}${pad('not 2xx', 9)}${pad('server ms/req', 15)}${pad('host', 6)}`
const rowLine = (r: Row): string =>
  `  ${r.label.padEnd(40)}${pad(int(r.rpsMean), 8)}${pad(String(r.p50), 8)}${pad(String(r.p99), 8)}${pad(String(r.max), 8)}` +
  `${pad(String(r.non2xx + r.errors + r.timeouts), 9)}${pad(r.serverMs.toFixed(3), 15)}${pad(r.machineBusy.toFixed(2), 6)}`

async function timed (opts: LoadOptions, server: { arbiter?: Arbiter, cerbos?: Cerbos }): Promise<Row> {
  const cpu0 = server.cerbos?.cpuSeconds() ?? 0
  const phase = await measure(opts, server.arbiter)
  const answers = Math.max(1, phase.ok2xx)
  const serverMs = server.cerbos === undefined
    ? phase.elu * phase.durationSec * 1000 / answers
    : (server.cerbos.cpuSeconds() - cpu0) * 1000 / answers
  return { ...phase, serverMs }
}

interface Context { binary: string, databaseUrl: string, echoUrl: string, seconds: number, workers: number, print: (line?: string) => void }

/** Both servers on the generated policy of `n` rules, measured in turn; false on a disagreement. */
async function compareAt (n: number, ctx: Context): Promise<boolean> {
  const text = generatePolicyYaml(n)
  const policy = compileGenerated(text)
  const dir = mkdtempSync(path.join(tmpdir(), 'arbiter-bench-peer-'))
  writeFileSync(path.join(dir, 'policy.yaml'), text)
  let arbiter: Arbiter | undefined
  let cerbos: Cerbos | undefined
  try {
    arbiter = await startArbiter(ctx.databaseUrl, undefined, { policyPath: path.join(dir, 'policy.yaml') })
    cerbos = await startCerbos(ctx.binary, cerbosPolicy(policy))
    const differ = await disagreements(policy, cerbos, n)
    const bodies = {
      arbiter: JSON.stringify({ job_id: 'cmp-[<id>]', ...BENCH_JOB }),
      cerbos: JSON.stringify(cerbosRequest(BENCH_JOB.principal_id, [{ job_id: '[<id>]', ...BENCH_JOB }]))
    }
    const answer = await fetch(`${arbiter.url}/check`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: arbiter.authorization }, body: bodies.arbiter.replace('[<id>]', 'probe') })
    const decided = await answer.json() as { decision?: string, rule_id?: string }
    const [said] = await cerbos.check(JSON.parse(bodies.cerbos) as Record<string, unknown>)
    ctx.print(`  ${int(n)} rules: the bench job is ${decided.decision ?? `HTTP ${answer.status}`} by ${decided.rule_id ?? '-'} in Arbiter, ${said.allowed ? 'allowed' : 'denied'} by ${said.rules.join(' ')} in Cerbos; ` +
      `${differ.length === 0 ? 'same decisions and matched rules' : `${differ.length} disagreements`} on 300 varied jobs`)
    for (const line of differ.slice(0, 5)) ctx.print(`    DIFFERENT: ${line}`)

    const base = { durationSec: ctx.seconds, workers: ctx.workers, authorization: arbiter.authorization }
    const a = async (label: string, connections: number, durationSec = ctx.seconds): Promise<Row> =>
      await timed({ ...base, durationSec, label: `${int(n)} rules, Arbiter /check, ${label}`, url: `${arbiter?.url ?? ''}/check`, connections, body: bodies.arbiter }, { arbiter })
    const c = async (label: string, connections: number, durationSec = ctx.seconds): Promise<Row> =>
      await timed({ ...base, durationSec, label: `${int(n)} rules, Cerbos, ${label}`, url: cerbos?.checkUrl ?? '', connections, body: bodies.cerbos }, { cerbos })
    await timed({ ...base, durationSec: 2, label: 'warm-up', url: ctx.echoUrl, connections: 8, body: bodies.arbiter }, {})
    await a('warm-up', 8, 2)
    await c('warm-up', 8, 2)
    const rows = [
      await timed({ ...base, label: 'bare echo, 8 conn', url: ctx.echoUrl, connections: 8, body: bodies.arbiter }, {}),
      await a('8 conn', 8), await c('8 conn', 8), await a('8 conn', 8), await c('8 conn', 8),
      await a('1 conn', 1), await c('1 conn', 1)
    ]
    ctx.print(HEAD)
    for (const r of rows) ctx.print(rowLine(r))
    const x = (p: Row, q: Row): string => `×${(p.rpsMean / Math.max(1, q.rpsMean)).toFixed(2)}`
    ctx.print(`  Arbiter ÷ Cerbos, req/s: ${x(rows[1], rows[2])} and ${x(rows[3], rows[4])} at 8 connections, ${x(rows[5], rows[6])} at 1 connection`)
    ctx.print()
    return differ.length === 0
  } finally {
    await cerbos?.close()
    await arbiter?.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

export interface PeerBenchOptions {
  databaseUrl: string
  /** Seconds per measured run. */
  seconds: number
  /** autocannon worker threads (0: on the servers' own thread). */
  workers: number
  print: (line?: string) => void
}

/**
 * Arbiter's /check (every decision committed, signed and chained as usual) against Cerbos
 * CheckResources on equivalent policies of 10 and 1,000 rules. Prints a line and returns true
 * when Cerbos cannot be installed; false when the two decide a job differently.
 */
export async function benchAgainstCerbos (opts: PeerBenchOptions): Promise<boolean> {
  const { print } = opts
  let binary: string
  try {
    binary = await installCerbos()
  } catch (err) {
    if (!(err instanceof CerbosUnavailable)) throw err
    print(`Against Cerbos: skipped, ${err.message}`)
    return true
  }
  const busy = await hostBusy(1000)
  print(`Against Cerbos ${CERBOS_VERSION} (${binary}; audit off), equivalent generated policies, the same job`)
  print(`  host load ${(busy * 100).toFixed(0)} % of all cores busy in the second before (others' work); load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`)
  print(`  ${opts.seconds} s per run; 8 connections Arbiter, Cerbos, Arbiter, Cerbos; then 1 connection back to back`)
  print('  (server ms/req: CPU per answer of Arbiter\'s thread, Postgres not included, or of the whole Cerbos process)')
  const echo = await startEcho()
  let ok = true
  try {
    for (const n of [10, 1000]) ok = await compareAt(n, { ...opts, binary, echoUrl: `${echo.url}/echo` }) && ok
  } finally {
    await echo.close()
  }
  return ok
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const env = process.env
  benchAgainstCerbos({
    databaseUrl: env.DATABASE_URL !== undefined && env.DATABASE_URL !== '' ? env.DATABASE_URL : 'postgres://postgres@127.0.0.1:5432/test',
    seconds: Number(env.BENCH_SECONDS ?? 10),
    workers: Number(env.BENCH_WORKERS ?? 1),
    print: (line = '') => { console.log(line) }
  }).then((ok) => { process.exitCode = ok ? 0 : 1 }, (err: unknown) => {
    console.error('bench failed:', err)
    process.exitCode = 1
  })
}
