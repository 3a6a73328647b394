/**
 * The decision itself: built-in guards first, then every matching rule; the most restrictive
 * wins, and constraints from all matching rules merge to the tightest. Pure and deterministic:
 * rate limits are counted by the caller, who says which keys are over (`exceeded`).
 */
import type { CompiledPolicy, CompiledRule } from './compile.js'
import { decidingCommand, matchHolds, type Subject } from './match.js'
import { analyzeCommand, type CommandAnalysis } from './shell/analyze.js'
import { DEFAULT_APPROVAL, RESTRICTIVENESS, type ApprovalRequirement, type ApprovalSpec, type CommandSummary, type Constraints, type Evaluation, type Job, type RateLimitUse, type RuleMatch } from './types.js'

export interface EvaluateOptions {
  /** Say why each matching rule matched (for simulation; costs a little). */
  explain?: boolean
  /** Rate-limited rules whose key is over its limit → milliseconds until a slot frees. */
  exceeded?: ReadonlyMap<string, number>
}

export const UNPARSEABLE_COMMAND_RULE = 'arbiter:unparseable-command'
export const RECURSIVE_DELETE_RULE = 'arbiter:recursive-force-delete'

/** Evaluates a normalized job against a compiled policy. */
export function evaluate (policy: CompiledPolicy, job: Job, options: EvaluateOptions = {}): Evaluation {
  const command = job.command === undefined
    ? undefined
    : analyzeCommand(job.command, { protectedPaths: policy.shell.protectedPaths, workingDirectory: job.cwd })
  const derived = deriveTags(policy, job, command)
  const subject: Subject = { job, tags: derived.length === 0 ? job.risk_tags : [...job.risk_tags, ...derived].sort(), command }
  const matches = guardMatches(policy, command, options.explain === true)
  const rateLimits: RateLimitUse[] = []
  const ruleOf = new Map<RuleMatch, CompiledRule>()
  let constraints: Constraints | undefined
  for (const i of policy.index.candidates(job.topic)) {
    const rule = policy.rules[i]
    const why = options.explain === true ? [] : undefined
    if (!matchHolds(rule, subject, why)) continue
    const match = ruleMatch(rule, subject, why, options.exceeded, rateLimits)
    if (match === undefined) continue
    matches.push(match)
    if (command !== undefined) ruleOf.set(match, rule)
    if (rule.constraints !== undefined) constraints = mergeConstraints(constraints, rule.constraints)
  }
  // Strictly greater: among equals the first (guards, then file order) keeps rule_id and reason.
  const winner = matches.reduce<RuleMatch | undefined>((w, m) => (w === undefined || RESTRICTIVENESS[m.decision] > RESTRICTIVENESS[w.decision] ? m : w), undefined)
  const extras = {
    derived_tags: derived,
    rate_limits: rateLimits,
    ...(command === undefined ? {} : { command: commandSummary(command, winner, winner === undefined ? undefined : ruleOf.get(winner)) })
  }
  const matchedRules = matches.map((m) => m.rule_id)
  if (winner === undefined) {
    const fallback: Evaluation = { decision: policy.defaults.decision, reason: policy.defaults.reason, rule_id: null, matched_rules: matchedRules, ...extras, matches }
    if (fallback.decision === 'REQUIRE_APPROVAL') fallback.approval = approvalRequirement([DEFAULT_APPROVAL])
    return fallback
  }
  const evaluation: Evaluation = { decision: winner.decision, reason: winner.reason, rule_id: winner.rule_id, matched_rules: matchedRules, ...extras, matches }
  const carriesConstraints = winner.decision === 'ALLOW_WITH_CONSTRAINTS' || winner.decision === 'REQUIRE_APPROVAL'
  if (carriesConstraints && constraints !== undefined) evaluation.constraints = constraints
  if (winner.decision === 'REQUIRE_APPROVAL') {
    evaluation.approval = approvalRequirement(matches.filter((m) => m.decision === 'REQUIRE_APPROVAL').map((m) => m.approval ?? {}))
  }
  if (winner.decision === 'THROTTLE') {
    evaluation.retry_after_ms = Math.max(...matches.map((m) => m.retry_after_ms ?? 0))
  }
  return evaluation
}

/** What the command was found to be, each simple command's classes, and which one the decision turned on. */
function commandSummary (command: CommandAnalysis, winner: RuleMatch | undefined, rule: CompiledRule | undefined): CommandSummary {
  const summary: CommandSummary = {
    parsed: command.parsed,
    classes: command.classes,
    ...(command.parsed ? {} : { error: command.error }),
    commands: command.commands.map((c) => ({ text: c.text, classes: c.classes, ...(c.reason === undefined ? {} : { reason: c.reason }) }))
  }
  if (winner === undefined || !command.parsed) return summary
  if (winner.rule_id === RECURSIVE_DELETE_RULE) {
    const index = command.commands.findIndex((c) => c.text === command.forcedDeletes[0].segment)
    if (index !== -1) summary.decided_by = { command: index, class: 'destructive' }
    return summary
  }
  const hit = rule === undefined ? undefined : decidingCommand(rule, command)
  if (hit !== undefined) summary.decided_by = { command: hit.index, ...(hit.class === undefined ? {} : { class: hit.class }) }
  return summary
}

/** The built-in shell guards: they deny whatever the rules say. */
function guardMatches (policy: CompiledPolicy, command: CommandAnalysis | undefined, explain: boolean): RuleMatch[] {
  if (command === undefined) return []
  if (!command.parsed) {
    const reason = `the command cannot be parsed (${command.error}); a command Arbiter cannot read is unsafe`
    return [{ rule_id: UNPARSEABLE_COMMAND_RULE, decision: 'DENY', reason, ...(explain ? { why: [reason] } : {}) }]
  }
  if (!policy.shell.recursiveDeleteGuard || command.forcedDeletes.length === 0) return []
  const hit = command.forcedDeletes[0]
  const reason = `recursive forced delete of protected path '${hit.target}' in '${hit.segment}'`
  return [{ rule_id: RECURSIVE_DELETE_RULE, decision: 'DENY', reason, ...(explain ? { why: command.forcedDeletes.map((d) => `'${d.segment}' deletes protected '${d.target}'`) } : {}) }]
}

/** Risk tags the policy's derivations add that the job did not declare, sorted. */
function deriveTags (policy: CompiledPolicy, job: Job, command: CommandAnalysis | undefined): string[] {
  if (policy.derive.length === 0) return []
  const declared = new Set(job.risk_tags)
  const added = new Set<string>()
  const subject: Subject = { job, tags: job.risk_tags, command }
  for (const d of policy.derive) {
    if (!matchHolds(d, subject, undefined)) continue
    for (const tag of d.add) if (!declared.has(tag)) added.add(tag)
  }
  return [...added].sort()
}

/** What a matching rule says of this job; undefined when a rate-limited rule is within its limit. */
function ruleMatch (rule: CompiledRule, subject: Subject, why: string[] | undefined, exceeded: ReadonlyMap<string, number> | undefined, rateLimits: RateLimitUse[]): RuleMatch | undefined {
  const match: RuleMatch = { rule_id: rule.id, decision: rule.decision, reason: rule.reason, constraints: rule.constraints, ...(rule.approval === undefined ? {} : { approval: rule.approval }), why }
  if (rule.rateLimit !== undefined) {
    const { max, window_sec: windowSec } = rule.rateLimit
    rateLimits.push({ rule_id: rule.id, key: rateLimitKey(rule.rateLimit.key, subject.job), max, window_sec: windowSec })
    const wait = exceeded?.get(rule.id)
    if (wait === undefined) return undefined
    why?.push(`over its limit of ${max} per ${windowSec} s`)
    match.retry_after_ms = wait
  } else if (rule.decision === 'THROTTLE') {
    match.retry_after_ms = rule.retryAfterMs
  }
  const evidence = subject.job.evidence ?? {}
  // Own fields only: `constructor` is not evidence a job carries.
  const missing = (rule.requireEvidence ?? []).filter((k) => !Object.hasOwn(evidence, k) || !present(evidence[k]))
  if (missing.length > 0) {
    match.missing_evidence = missing
    match.reason = `${rule.reason}; missing evidence: ${missing.join(', ')}`
    if (RESTRICTIVENESS[rule.onMissingEvidence] > RESTRICTIVENESS[match.decision]) match.decision = rule.onMissingEvidence
  }
  return match
}

/** Evidence counts when it says something: not null, not an empty string, list or object. */
function present (value: unknown): boolean {
  if (value === undefined || value === null) return false
  if (typeof value === 'string' || Array.isArray(value)) return value.length > 0
  if (typeof value === 'object') return Object.keys(value).length > 0
  return true
}

/** A rate limit's key: the values of its fields, as JSON (a missing field counts as empty). */
export function rateLimitKey (fields: readonly string[], job: Job): string {
  return JSON.stringify(fields.map((f) => {
    if (f.startsWith('labels.')) return job.labels?.[f.slice('labels.'.length)] ?? ''
    const value = job[f as 'tenant_id' | 'topic' | 'principal_id' | 'session_id']
    return value ?? ''
  }))
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
    dispatch_window_sec: Math.min(...full.map((s) => s.dispatch_window_sec)),
    // One rule asking for one question at a time is enough: the stricter setting wins.
    ...(full.some((s) => s.single_flight === 'session') ? { single_flight: 'session' as const } : {})
  }
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
