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

export type ApproverRole = 'reviewer' | 'admin'

export interface ApprovalSpec {
  approvers?: number
  roles?: ApproverRole[]
  ttl_sec?: number
  dispatch_window_sec?: number
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
}

export const DEFAULT_APPROVAL: Readonly<Required<ApprovalSpec>> = Object.freeze({
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
  approval?: ApprovalSpec
  /** Why each match field held; filled only when evaluation is asked to explain. */
  why?: string[]
}

export interface Evaluation {
  decision: Decision
  reason: string
  rule_id: string | null
  matched_rules: string[]
  constraints?: Constraints
  /** Set when the decision is REQUIRE_APPROVAL. */
  approval?: ApprovalRequirement
  matches: RuleMatch[]
}
