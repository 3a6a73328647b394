/**
 * The decision itself: every matching rule is considered, the most restrictive wins, and
 * constraints from all matching rules merge to the tightest. Pure and deterministic.
 */
import type { CompiledPolicy, CompiledRule } from './compile.js'
import { globMatches, type Glob } from './glob.js'
import { DEFAULT_APPROVAL, RESTRICTIVENESS, type ApprovalRequirement, type ApprovalSpec, type Constraints, type Evaluation, type Job, type RuleMatch } from './types.js'

export interface EvaluateOptions {
  /** Say why each matching rule matched (for simulation; costs a little). */
  explain?: boolean
}

/** Evaluates a normalized job against a compiled policy. */
export function evaluate (policy: CompiledPolicy, job: Job, options: EvaluateOptions = {}): Evaluation {
  const matches: RuleMatch[] = []
  let winner: CompiledRule | undefined
  let constraints: Constraints | undefined
  for (const i of policy.index.candidates(job.topic)) {
    const rule = policy.rules[i]
    const why = options.explain === true ? [] : undefined
    if (!ruleMatches(rule, job, why)) continue
    matches.push({ rule_id: rule.id, decision: rule.decision, reason: rule.reason, constraints: rule.constraints, ...(rule.approval === undefined ? {} : { approval: rule.approval }), why })
    // Strictly greater: among equals the first in file order keeps rule_id and reason.
    if (winner === undefined || RESTRICTIVENESS[rule.decision] > RESTRICTIVENESS[winner.decision]) winner = rule
    if (rule.constraints !== undefined) constraints = mergeConstraints(constraints, rule.constraints)
  }
  const matchedRules = matches.map((m) => m.rule_id)
  if (winner === undefined) {
    const fallback: Evaluation = { decision: policy.defaults.decision, reason: policy.defaults.reason, rule_id: null, matched_rules: matchedRules, matches }
    if (fallback.decision === 'REQUIRE_APPROVAL') fallback.approval = approvalRequirement([DEFAULT_APPROVAL])
    return fallback
  }
  const carriesConstraints = winner.decision === 'ALLOW_WITH_CONSTRAINTS' || winner.decision === 'REQUIRE_APPROVAL'
  const evaluation: Evaluation = { decision: winner.decision, reason: winner.reason, rule_id: winner.id, matched_rules: matchedRules, matches }
  if (carriesConstraints && constraints !== undefined) evaluation.constraints = constraints
  if (winner.decision === 'REQUIRE_APPROVAL') {
    evaluation.approval = approvalRequirement(matches.filter((m) => m.decision === 'REQUIRE_APPROVAL').map((m) => m.approval ?? {}))
  }
  return evaluation
}

/**
 * The strictest of what every matching require_approval rule asks: the most approvers, the
 * shortest clocks, and an approver must satisfy each rule's roles. Settings a rule leaves out
 * are the defaults.
 */
export function approvalRequirement (specs: readonly ApprovalSpec[]): ApprovalRequirement {
  const full = specs.map((s) => ({ ...DEFAULT_APPROVAL, ...s }))
  const roleSets = new Map(full.map((s) => {
    const roles = [...new Set(s.roles)].sort()
    return [roles.join(','), roles] as const
  }))
  return {
    approvers: Math.max(...full.map((s) => s.approvers)),
    roles: [...roleSets.keys()].sort().map((k) => roleSets.get(k) as ApprovalRequirement['roles'][number]),
    ttl_sec: Math.min(...full.map((s) => s.ttl_sec)),
    dispatch_window_sec: Math.min(...full.map((s) => s.dispatch_window_sec))
  }
}

function ruleMatches (rule: CompiledRule, job: Job, why: string[] | undefined): boolean {
  if (rule.topics !== undefined) {
    const glob = firstMatch(rule.topics, job.topic)
    if (glob === undefined) return false
    why?.push(`topic '${job.topic}' matches '${glob.source}'`)
  }
  if (rule.riskTags !== undefined) {
    if (rule.riskTags === null) {
      if (job.risk_tags.length > 0) return false
      why?.push('job carries no risk tags, as required')
    } else {
      const hit = job.risk_tags.find((t) => (rule.riskTags as ReadonlySet<string>).has(t))
      if (hit === undefined) return false
      why?.push(`risk tag '${hit}' is one of [${[...rule.riskTags].join(', ')}]`)
    }
  }
  if (rule.tenants !== undefined) {
    const glob = firstMatch(rule.tenants, job.tenant_id)
    if (glob === undefined) return false
    why?.push(`tenant '${job.tenant_id}' matches '${glob.source}'`)
  }
  if (rule.principals !== undefined) {
    // A rule about principals never matches a job that names none.
    const glob = job.principal_id === undefined ? undefined : firstMatch(rule.principals, job.principal_id)
    if (glob === undefined) return false
    why?.push(`principal '${job.principal_id ?? ''}' matches '${glob.source}'`)
  }
  if (rule.labels !== undefined) {
    for (const [key, allowed] of rule.labels) {
      const value = job.labels?.[key]
      if (value === undefined || !allowed.has(value)) return false
      why?.push(`label ${key}='${value}' is allowed`)
    }
  }
  if (why !== undefined && why.length === 0) why.push('the rule matches every job')
  return true
}

function firstMatch (globs: readonly Glob[], value: string): Glob | undefined {
  return globs.find((g) => globMatches(g, value))
}

const LIMITS = ['max_runtime_sec', 'max_retries', 'max_output_bytes'] as const
const ALLOW_LISTS = ['allowed_paths', 'network_allowlist'] as const

/** The tightest of two constraint sets: smallest limits, intersected allow-lists. */
export function mergeConstraints (a: Constraints | undefined, b: Readonly<Constraints>): Constraints {
  if (a === undefined) return { ...b }
  const out: Constraints = { ...a }
  for (const k of LIMITS) {
    const bv = b[k]
    if (bv !== undefined) out[k] = out[k] === undefined ? bv : Math.min(out[k] as number, bv)
  }
  for (const k of ALLOW_LISTS) {
    const bv = b[k]
    if (bv === undefined) continue
    const av = out[k]
    out[k] = av === undefined ? [...bv] : av.filter((x) => bv.includes(x))
  }
  return out
}
