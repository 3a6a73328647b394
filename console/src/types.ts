/** The shapes of the API answers the console reads (see openapi.yaml). */
export interface Vote { principal_id: string, key_id: string | null, vote: 'APPROVE' | 'DENY', note: string | null, at: string }

export interface Approval {
  approval_id: string
  status: string
  expires_at: string | null
  approvals_required: number
  approvals_received: number
  tenant_id: string
  job_id: string
  job_hash: string
  job: Record<string, unknown>
  evidence: Record<string, unknown> | null
  topic: string
  trace_id: string
  rule_id: string | null
  reason: string
  constraints?: Record<string, unknown>
  requested_by: Record<string, string> | null
  approver_roles: string[][]
  created_at: string
  resolved_at: string | null
  resolution: Record<string, unknown> | null
  votes: Vote[]
}

export interface ForMe { awaiting_my_vote: boolean, vote_refusal: string | null }

export interface QueueAnswer { version: string, approvals: Array<ForMe & { approval: Approval }>, truncated: boolean }

export interface CommandSummary {
  parsed: boolean
  classes: string[]
  error?: string
  commands?: Array<{ text: string, classes: string[], reason?: string }>
  decided_by?: { command: number, class?: string }
}

export interface Review extends ForMe {
  approval: Approval
  command: CommandSummary | null
  derived_risk_tags: string[]
  previous: { approval_id: string, job_hash: string, job: Record<string, unknown>, status: string, created_at: string | null } | null
}
