/** Types shared by the pure policy core: what a policy file says, what a job is, what comes out. */

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
}

export interface RuleSpec {
  id: string
  description?: string
  match: RuleMatchSpec
  decision: YamlDecision
  reason?: string
  constraints?: Constraints
}

export interface PolicyFileSpec {
  version: 'v1'
  description?: string
  defaults?: { decision: 'allow' | 'deny' | 'require_approval', reason?: string }
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
  /** Why each match field held; filled only when evaluation is asked to explain. */
  why?: string[]
}

export interface Evaluation {
  decision: Decision
  reason: string
  rule_id: string | null
  matched_rules: string[]
  constraints?: Constraints
  matches: RuleMatch[]
}
