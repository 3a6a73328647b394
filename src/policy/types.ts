/** Types shared by the pure policy core: what a policy file says, what a job is, what comes out. */
import type { FindingType } from '../output/detectors.js'
import type { CommandClass } from './shell/analyze.js'

export type { CommandClass, FindingType }

export const DECISIONS = ['ALLOW', 'ALLOW_WITH_CONSTRAINTS', 'REQUIRE_APPROVAL', 'THROTTLE', 'DENY'] as const
export type Decision = typeof DECISIONS[number]

/** Higher is more restrictive; the most restrictive matching rule wins. */
export const RESTRICTIVENESS: Readonly<Record<Decision, number>> = {
  ALLOW: 0,
  ALLOW_WITH_CONSTRAINTS: 1,
  REQUIRE_APPROVAL: 2,
  THROTTLE: 3,
  DENY: 4
}

export type YamlDecision = 'allow' | 'deny' | 'require_approval' | 'allow_with_constraints' | 'throttle'

export interface Constraints {
  max_runtime_sec?: number
  max_retries?: number
  max_output_bytes?: number
  allowed_paths?: string[]
  network_allowlist?: string[]
}

export interface RuleMatchSpec {
  topics?: string[]
  risk_tags?: string[]
  tenants?: string[]
  principals?: string[]
  labels?: Record<string, string | string[]>
  /**
   * Patterns over each simple command of the job's `command`, after parsing and unwrapping: an
   * allow-style rule needs every simple command to match one, any other rule one.
   */
  command?: string[]
  /** The classes of each simple command: an allow-style rule needs every one's among them, any other rule one's. */
  command_class?: CommandClass[]
}

/**
 * A sliding-window limit: at most `max` jobs per `window_sec` for each value of `key` (fields
 * `tenant_id`, `topic`, `principal_id`, `session_id`, or `labels.<name>`).
 */
export interface RateLimitSpec {
  max: number
  window_sec: number
  key: string[]
}

export type ApproverRole = 'reviewer' | 'admin'

export interface ApprovalSpec {
  approvers?: number
  roles?: ApproverRole[]
  ttl_sec?: number
  dispatch_window_sec?: number
  /**
   * `session`: the session's approvals reach reviewers one at a time, each later one QUEUED
   * behind the one in front until that one is resolved.
   */
  single_flight?: 'session'
}

/**
 * What a REQUIRE_APPROVAL answer asks for: `approvers` distinct people, each holding a role from
 * every set in `roles` (one set per matching rule), within `ttl_sec`; once approved, the job must
 * be dispatched within `dispatch_window_sec`.
 */
export interface ApprovalRequirement {
  approvers: number
  roles: ApproverRole[][]
  ttl_sec: number
  dispatch_window_sec: number
  /** Whether the job's session puts it in line behind the session's other single-flight approvals. */
  single_flight?: 'session'
}

export const DEFAULT_APPROVAL: Readonly<Required<Omit<ApprovalSpec, 'single_flight'>>> = Object.freeze({
  approvers: 1,
  roles: ['reviewer' as const],
  ttl_sec: 3600,
  dispatch_window_sec: 900
})

export interface RuleSpec {
  id: string
  description?: string
  match: RuleMatchSpec
  decision: YamlDecision
  reason?: string
  constraints?: Constraints
  approval?: ApprovalSpec
  /** Only on throttle rules: the rule fires only past this limit. */
  rate_limit?: RateLimitSpec
  /** How long a throttle rule without a rate limit tells callers to wait (default 60). */
  retry_after_sec?: number
  /** Evidence fields the job must carry before this rule's decision applies. */
  require_evidence?: string[]
  on_missing_evidence?: 'require_approval' | 'deny'
}

/** Adds risk tags on the server: what a caller declares can only be added to, never removed. */
export interface DeriveSpec {
  id: string
  description?: string
  match: Omit<RuleMatchSpec, 'risk_tags'>
  add: string[]
}

export interface ShellSpec {
  /** Added to the built-in protected paths. */
  protected_paths?: string[]
  /** The built-in DENY of a recursive forced delete aimed at a protected path (default on). */
  recursive_delete_guard?: boolean
}

export type OutputFindingVerdict = 'allow' | 'redact' | 'quarantine'

export interface OutputRulesSpec {
  max_output_bytes?: number
  /** Output past max_output_bytes: quarantined (default), or only its first max_output_bytes scanned. */
  on_oversize?: 'quarantine' | 'scan_prefix'
  findings?: Partial<Record<FindingType, OutputFindingVerdict>>
  /** The policy's own detectors: findings of type `id`, matched by RE2 (linear time). */
  detectors?: OutputDetectorSpec[]
}

export interface OutputDetectorSpec {
  id: string
  pattern: string
  verdict: OutputFindingVerdict
  description?: string
}

export interface PolicyFileSpec {
  version: 'v1'
  description?: string
  defaults?: { decision: 'allow' | 'deny' | 'require_approval', reason?: string }
  derive?: DeriveSpec[]
  shell?: ShellSpec
  output_rules?: OutputRulesSpec
  rules: RuleSpec[]
}

/** A policy source file as read from disk: the exact text is kept for auditors. */
export interface PolicySource {
  file: string
  text: string
}

/** A job after defaults are applied: what rules are matched against and what is hashed. */
export interface Job {
  job_id: string
  topic: string
  tenant_id: string
  principal_id?: string
  session_id?: string
  risk_tags: string[]
  labels?: Record<string, string>
  command?: string
  /** The working directory `command` runs in (itself protected from recursive deletes). */
  cwd?: string
  args?: Record<string, unknown>
  evidence?: Record<string, unknown>
  priority?: number
  budget?: Record<string, number>
}

export interface RuleMatch {
  rule_id: string
  decision: Decision
  reason: string
  constraints?: Constraints
  approval?: ApprovalSpec
  /** Evidence the rule requires that the job lacks. */
  missing_evidence?: string[]
  /** A THROTTLE's wait. */
  retry_after_ms?: number
  /** Why each match field held; filled only when evaluation is asked to explain. */
  why?: string[]
}

/** A matching rate-limited rule: the caller counts the job against `key` and says if it is over. */
export interface RateLimitUse {
  rule_id: string
  /** The key's values, in the order the rule lists its fields. */
  key: string
  max: number
  window_sec: number
}

/** One simple command of a job's command line, as the gate saw it. */
export interface CommandPart {
  /** The effective command as written (wrappers removed). */
  text: string
  classes: CommandClass[]
  /** Why its classes are not what its name alone says (an option, a variable, a protected target…). */
  reason?: string
}

export interface CommandSummary {
  parsed: boolean
  /** Every class of every simple command, sorted. */
  classes: CommandClass[]
  /** Why the command could not be parsed. */
  error?: string
  commands: CommandPart[]
  /** The simple command (an index into `commands`) and class the deciding rule or guard turned on, when one did. */
  decided_by?: { command: number, class?: CommandClass }
}

export interface Evaluation {
  decision: Decision
  reason: string
  rule_id: string | null
  matched_rules: string[]
  constraints?: Constraints
  /** Set when the decision is REQUIRE_APPROVAL. */
  approval?: ApprovalRequirement
  /** Set when the decision is THROTTLE: how long to wait before checking again. */
  retry_after_ms?: number
  /** Risk tags the policy added to the declared ones (sorted; none already declared). */
  derived_tags: string[]
  /** What the command was found to be, when the job carries one. */
  command?: CommandSummary
  /** Every matching rate-limited rule, within its limit or not. */
  rate_limits: RateLimitUse[]
  matches: RuleMatch[]
}
