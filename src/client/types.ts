/**
 * The client's own view of Arbiter's contract (openapi.yaml). Nothing here is imported from the
 * server, so a scheduler can use the client alone; test/client/client.test.ts keeps the lists
 * below in step with the server's.
 */

/** The decisions Arbiter answers, from the least to the most restrictive. */
export const DECISIONS = ['ALLOW', 'ALLOW_WITH_CONSTRAINTS', 'REQUIRE_APPROVAL', 'THROTTLE', 'DENY'] as const
export type Decision = typeof DECISIONS[number]

/** What a scheduler reports about a job it checked; the last four are final. */
export const JOB_STATUSES = ['DISPATCHED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'] as const
export type JobStatus = typeof JOB_STATUSES[number]

/** The body of `POST /check`: `job_id` and `topic` are required, unknown fields are refused. */
export interface CheckJob {
  job_id: string
  topic: string
  tenant_id?: string
  principal_id?: string
  session_id?: string
  trace_id?: string
  risk_tags?: string[]
  labels?: Record<string, string>
  command?: string
  args?: Record<string, unknown>
  evidence?: Record<string, unknown>
  priority?: number
  budget?: Record<string, number>
}

/** Limits the scheduler must enforce on a job answered ALLOW_WITH_CONSTRAINTS. */
export interface Constraints {
  max_runtime_sec?: number
  max_retries?: number
  max_output_bytes?: number
  allowed_paths?: string[]
  network_allowlist?: string[]
}

export interface ApprovalState {
  approval_id: string
  /** QUEUED: waiting its turn behind `queued_behind` in a single-flight session, unseen by reviewers. */
  status: 'QUEUED' | 'PENDING' | 'APPROVED' | 'DENIED' | 'EXPIRED' | 'CANCELLED' | 'INVALIDATED' | 'SUPERSEDED' | 'CONSUMED'
  /** Null while QUEUED: the clock starts at its turn. */
  expires_at: string | null
  approvals_required: number
  approvals_received: number
  approved_at: string | null
  dispatch_by: string | null
  queued_behind?: string
}

/** One reviewer's vote on an approval. */
export interface ApprovalVote {
  principal_id: string
  key_id: string | null
  vote: 'APPROVE' | 'DENY'
  note: string | null
  at: string
}

/** An approval in full: the 200 answer of `GET /approvals/{job_id}`, as sent. */
export interface Approval extends ApprovalState {
  tenant_id: string
  job_id: string
  job_hash: string
  /** The job exactly as it was hashed, parsed; `job_canonical` is the text whose SHA-256 is `job_hash`. */
  job: Record<string, unknown>
  job_canonical: string
  evidence: Record<string, unknown> | null
  topic: string
  trace_id: string
  rule_id: string | null
  reason: string
  constraints?: Constraints
  policy_snapshot: string
  /** The key that checked the job: `{ principal_id, key_id }`. */
  requested_by: Record<string, string> | null
  /** Each approver must hold one role of every set. */
  approver_roles: string[][]
  dispatch_window_sec: number
  session_id: string | null
  /** Whether it waits its turn behind the session's other single-flight approvals. */
  single_flight: boolean
  created_at: string
  resolved_at: string | null
  /** How it ended: the approvers, the deny's note, the cancel's reason, … */
  resolution: Record<string, unknown> | null
  votes: ApprovalVote[]
}

/** A decision Arbiter made and recorded: the 200 answer of `POST /check`, as sent. */
export interface ArbiterDecision {
  source: 'arbiter'
  decision: Decision
  reason: string
  rule_id: string | null
  matched_rules: string[]
  constraints?: Constraints
  /** Present when the policy asked for approval, whatever the answer became. */
  policy_decision?: 'REQUIRE_APPROVAL'
  approval?: ApprovalState
  approval_ref?: string
  grant_ref?: string
  /** THROTTLE: how long to wait before checking again; from `Retry-After` when the body has none. */
  retry_after_ms?: number
  /** Risk tags the policy added to the ones the job declared. */
  derived_risk_tags?: string[]
  /** What the job's `command` was found to be. */
  command?: { parsed: boolean, classes: string[] }
  /** Evidence the deciding rule requires that the job lacks. */
  missing_evidence?: string[]
  policy_snapshot: string
  job_hash: string
  decision_id: string
  trace_id: string
  checked_at: string
  signature: string
}

/** Why the client answered instead of Arbiter. */
export interface CheckFailure {
  /** The server's error code (`ARBITER_ERR_*`), or one of the client's (`ARBITER_CLIENT_ERR_*`). */
  code: string
  message: string
  /** The HTTP status, when Arbiter (or something in front of it) answered. */
  statusCode?: number
}

/** What the client knew of the job when Arbiter did not decide (a 503 carries these). */
interface FailureContext {
  reason: string
  error: CheckFailure
  trace_id?: string
  job_hash?: string
  policy_snapshot?: string
}

/** Fail closed: Arbiter did not decide, or refused the request, so the job must not run. */
export interface ClientDeny extends FailureContext {
  source: 'client'
  decision: 'DENY'
}

/** Fail open: Arbiter could not be asked and the client was told to let jobs through. */
export interface FailOpenAllow extends FailureContext {
  source: 'fail_open'
  decision: 'ALLOW'
}

export type CheckResult = ArbiterDecision | ClientDeny | FailOpenAllow

export interface FailOpenEvent {
  job_id: string
  /** Why Arbiter could not decide, as the DENY's reason would have said. */
  error: string
  /** The failure's code, e.g. `ARBITER_CLIENT_ERR_UNREACHABLE`. */
  code: string
}

export interface ArbiterClientOptions {
  /** Where Arbiter listens, e.g. `http://127.0.0.1:8080`; a path prefix is kept. */
  baseUrl: string
  /** A scheduler key's token, sent as `authorization: Bearer <token>`. */
  token: string
  /** Each HTTP attempt is aborted after this long. Default 2000. */
  deadlineMs?: number
  /** What a failure to get a decision means: `closed` (DENY, the default) or `open` (ALLOW). */
  failMode?: 'closed' | 'open'
  /** Called every time fail-open lets a job through. */
  onFailOpen?: (event: FailOpenEvent) => void
  /** For tests: a replacement for the global `fetch`. */
  fetch?: typeof fetch
}

export interface CheckOptions {
  /** Check again after a THROTTLE's `retry_after_ms`, while the waits add up to at most `maxWaitMs`. */
  retryThrottle?: { maxWaitMs: number }
  /** Aborts the check; while waiting to retry, the last THROTTLE is returned. */
  signal?: AbortSignal
}

/** The job whose approval `waitForApproval` waits on: the job as checked will do. */
export interface ApprovalJob {
  job_id: string
  /** The tenant it was checked under; default `default`. */
  tenant_id?: string
}

export interface WaitOptions {
  /**
   * Give up after this many milliseconds and return the approval as last read (still PENDING).
   * Default: no limit; the approval's own TTL ends every wait.
   */
  timeoutMs?: number
  /** Aborts the wait: it rejects with `ARBITER_CLIENT_ERR_ABORTED`. */
  signal?: AbortSignal
}

/** The body of `POST /jobs/:job_id/events`. */
export interface JobEvent {
  status: JobStatus
  tenant_id?: string
  detail?: string
}

/** The 201 answer of `POST /jobs/:job_id/events`: the recorded event. */
export interface JobEventResult {
  job_id: string
  tenant_id: string
  trace_id: string
  status: JobStatus
  seq: number
  at: string
  signature: string
}
