/**
 * Pure evaluation timings: policies of 10, 1,000 and 10,000 rules generated in memory as YAML,
 * compiled with compilePolicy, then evaluate(policy, normalizeJob(request)) in a tight loop.
 * No HTTP, no database.
 */
import { performance } from 'node:perf_hooks'
import { compilePolicy, evaluate, normalizeJob, type CheckRequest, type CompiledPolicy } from '../src/policy/index.js'

export interface EvalResult {
  rules: number
  /** One rule in this many has no literal topic prefix (0: none). */
  globalEvery: number
  compileMs: number
  compileRuns: number
  ops: number
  nsPerOp: number
  opsPerSec: number
  /** Mean rules the topic index hands to the matcher per job. */
  meanCandidates: number
  /** Mean rules that matched per job. */
  meanMatched: number
  decisions: Record<string, number>
}

/** A cheap deterministic PRNG so every run evaluates the same jobs. */
function prng (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const VERBS = ['read', 'write', 'exec', 'admin'] as const

/**
 * A policy of `n` rules over n/8 services, in the shapes real policies take. One rule in
 * `globalEvery` is global (no literal topic prefix), so every job is its candidate.
 */
export function generatePolicyYaml (n: number, globalEvery = 100): string {
  const services = Math.max(1, Math.floor(n / 8))
  const lines = ['version: v1', 'defaults: { decision: deny }', 'rules:']
  for (let i = 0; i < n; i++) {
    const svc = `svc${i % services}`
    lines.push(`  - id: r${i}`)
    if (globalEvery > 0 && i % globalEvery === 0) {
      lines.push(`    match: { topics: ["**.purge", "*.${svc}.drop"], risk_tags: [destructive] }`, '    decision: deny')
      continue
    }
    switch (i % 8) {
      case 0:
      case 1:
        lines.push(`    match: { topics: ["job.${svc}.read.*"], risk_tags: [] }`, '    decision: allow')
        break
      case 2:
        lines.push(`    match: { topics: ["job.${svc}.write.*"], risk_tags: [prod] }`, '    decision: require_approval', '    reason: "production writes need review"')
        break
      case 3:
        lines.push(`    match: { topics: ["job.${svc}.exec.**"], risk_tags: [medium, high] }`, '    decision: allow_with_constraints',
          `    constraints: { max_runtime_sec: ${30 + (i % 60)}, max_retries: ${i % 3}, allowed_paths: [/tmp, /srv/${svc}] }`)
        break
      case 4:
        lines.push(`    match: { topics: ["job.${svc}.write.*", "job.${svc}.admin.*"], labels: { env: [prod, staging] }, tenants: ["acme-*"] }`,
          '    decision: throttle')
        break
      case 5:
        lines.push(`    match: { topics: ["job.${svc}.admin.delete"], risk_tags: [destructive, prod] }`, '    decision: deny')
        break
      case 6:
        lines.push(`    match: { topics: ["job.${svc}.*.report"], principals: ["agent:*"], labels: { team: ops } }`, '    decision: allow')
        break
      default:
        lines.push(`    match: { topics: ["job.${svc}.write.**"], risk_tags: [pii] }`, '    decision: require_approval')
    }
  }
  return lines.join('\n') + '\n'
}

/** A mix of jobs: mostly known services, some unknown ones, varied tags, tenants and labels. */
export function generateRequests (rules: number, count: number): CheckRequest[] {
  const rand = prng(rules)
  const services = Math.max(1, Math.floor(rules / 8))
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]
  const out: CheckRequest[] = []
  for (let i = 0; i < count; i++) {
    const svc = rand() < 0.9 ? `svc${Math.floor(rand() * services)}` : `unknown${i}`
    const verb = pick(VERBS)
    const object = pick(['ticket', 'report', 'delete', 'shell', 'purge'])
    out.push({
      job_id: `eval-${i}`,
      topic: `job.${svc}.${verb}.${object}`,
      tenant_id: pick(['acme-eu', 'acme-us', 'globex']),
      principal_id: pick(['agent:triage', 'user:alice']),
      risk_tags: pick([[], [], ['prod'], ['medium'], ['prod', 'destructive'], ['pii', 'prod']]),
      labels: { env: pick(['prod', 'staging', 'dev']), team: pick(['ops', 'support']) }
    })
  }
  return out
}

function compileOnce (yaml: string): CompiledPolicy {
  const result = compilePolicy([{ file: 'bench.yaml', text: yaml }])
  if (!result.ok) throw new Error(`generated policy does not compile: ${JSON.stringify(result.problems.slice(0, 3))}`)
  return result.policy
}

export function benchEvaluation (rules: number, globalEvery = 100, ops = 100_000): EvalResult {
  const yaml = generatePolicyYaml(rules, globalEvery)
  const compileRuns = rules >= 10_000 ? 2 : 5
  let policy = compileOnce(yaml)
  const t0 = performance.now()
  for (let i = 0; i < compileRuns; i++) policy = compileOnce(yaml)
  const compileMs = (performance.now() - t0) / compileRuns
  if (policy.rules.length !== rules) throw new Error(`expected ${rules} rules, compiled ${policy.rules.length}`)

  const requests = generateRequests(rules, 1000)
  const decisions: Record<string, number> = {}
  let candidates = 0
  let matched = 0
  for (const r of requests) {
    const ev = evaluate(policy, normalizeJob(r))
    decisions[ev.decision] = (decisions[ev.decision] ?? 0) + 1
    candidates += policy.index.candidates(r.topic).length
    matched += ev.matched_rules.length
  }
  // Warm up, then time; the sink keeps the work from being optimised away.
  let sink = 0
  for (let i = 0; i < 20_000; i++) sink += evaluate(policy, normalizeJob(requests[i % requests.length])).matched_rules.length
  const start = process.hrtime.bigint()
  for (let i = 0; i < ops; i++) sink += evaluate(policy, normalizeJob(requests[i % requests.length])).matched_rules.length
  const ns = Number(process.hrtime.bigint() - start)
  if (sink < 0) throw new Error('unreachable')
  return {
    rules,
    globalEvery,
    compileMs,
    compileRuns,
    ops,
    nsPerOp: ns / ops,
    opsPerSec: ops / (ns / 1e9),
    meanCandidates: candidates / requests.length,
    meanMatched: matched / requests.length,
    decisions
  }
}
