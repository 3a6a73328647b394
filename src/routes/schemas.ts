/**
 * JSON schemas shared by the routes, registered once on the app by `$id`. openapi.yaml states
 * the same contract; test/routes/openapi.test.ts keeps the two in step.
 */
import { checkRequestSchema } from '../policy/request-schema.js'
import { COMMAND_CLASSES } from '../policy/shell/analyze.js'
import { DECISIONS } from '../policy/types.js'
import { APPROVAL_STATUSES } from '../domain/approval-status.js'

export const constraintsSchema = {
  $id: 'Constraints',
  type: 'object',
  additionalProperties: false,
  properties: {
    max_runtime_sec: { type: 'integer' },
    max_retries: { type: 'integer' },
    max_output_bytes: { type: 'integer' },
    allowed_paths: { type: 'array', items: { type: 'string' } },
    network_allowlist: { type: 'array', items: { type: 'string' } }
  }
} as const

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message'],
  additionalProperties: false,
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' }
  }
} as const

/** `limit` of a list of approvals or grants: 1–200, as a querystring string. */
export const pageLimit = { type: 'string', pattern: '^([1-9][0-9]?|1[0-9]{2}|200)$' } as const

/** A page of a list: its items under `key`, and the cursor of the next page (null at the end). */
export function pageOf (key: string, ref: string): Record<string, unknown> {
  return { type: 'object', required: [key, 'next_cursor'], additionalProperties: false, properties: { [key]: { type: 'array', items: { $ref: `${ref}#` } }, next_cursor: { type: ['string', 'null'] } } }
}

/** `sha256:` + 64 hex digits: job hashes and policy snapshot ids. */
export const sha256Id = { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' } as const

const decisionCore = {
  decision: { type: 'string', enum: DECISIONS },
  reason: { type: 'string' },
  rule_id: { type: ['string', 'null'] },
  matched_rules: { type: 'array', items: { type: 'string' } },
  constraints: { $ref: 'Constraints#' },
  policy_snapshot: sha256Id,
  job_hash: sha256Id,
  trace_id: { type: 'string' },
  /** THROTTLE: how long to wait before checking again (also the Retry-After header, in seconds). */
  retry_after_ms: { type: 'integer', minimum: 1 },
  /** Risk tags the policy added to the declared ones; the declared ones are the job's own. */
  derived_risk_tags: { type: 'array', items: { type: 'string' } },
  /** What the job's command was found to be. */
  command: { $ref: 'CommandSummary#' },
  /** Evidence the deciding rule requires that the job lacks. */
  missing_evidence: { type: 'array', items: { type: 'string' } }
} as const

export const commandSummarySchema = {
  $id: 'CommandSummary',
  type: 'object',
  required: ['parsed', 'classes'],
  additionalProperties: false,
  properties: {
    parsed: { type: 'boolean' },
    classes: { type: 'array', items: { type: 'string', enum: COMMAND_CLASSES } }
  }
} as const

const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const

/** An approval's state as a /check answer carries it. */
export const approvalStateSchema = {
  $id: 'ApprovalState',
  type: 'object',
  required: ['approval_id', 'status', 'expires_at', 'approvals_required', 'approvals_received', 'approved_at', 'dispatch_by'],
  additionalProperties: false,
  properties: {
    approval_id: { type: 'string', format: 'uuid' },
    status: { type: 'string', enum: APPROVAL_STATUSES },
    expires_at: { type: 'string', format: 'date-time' },
    approvals_required: { type: 'integer' },
    approvals_received: { type: 'integer' },
    approved_at: nullableTime,
    dispatch_by: nullableTime
  }
} as const

export const decisionSchema = {
  $id: 'Decision',
  type: 'object',
  required: ['decision', 'reason', 'rule_id', 'matched_rules', 'policy_snapshot', 'job_hash', 'decision_id', 'trace_id', 'checked_at', 'signature'],
  additionalProperties: false,
  properties: {
    ...decisionCore,
    decision_id: { type: 'string', format: 'uuid' },
    checked_at: { type: 'string', format: 'date-time' },
    signature: { type: 'string', pattern: '^hmac-sha256:[A-Za-z0-9_]+:[0-9a-f]{64}$' },
    policy_decision: { type: 'string', const: 'REQUIRE_APPROVAL' },
    approval: { $ref: 'ApprovalState#' },
    approval_ref: { type: 'string', format: 'uuid' },
    grant_ref: { type: 'string', format: 'uuid' }
  }
} as const

const approverRoles = { type: 'array', items: { type: 'string', enum: ['reviewer', 'admin'] } } as const

/** A rule's `approval` settings as written. */
const approvalSpecSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    approvers: { type: 'integer' },
    roles: approverRoles,
    ttl_sec: { type: 'integer' },
    dispatch_window_sec: { type: 'integer' }
  }
} as const

/** What a REQUIRE_APPROVAL answer would ask of reviewers: the strictest of the matching rules. */
const approvalRequirementSchema = {
  type: 'object',
  required: ['approvers', 'roles', 'ttl_sec', 'dispatch_window_sec'],
  additionalProperties: false,
  properties: {
    approvers: { type: 'integer' },
    roles: { type: 'array', items: approverRoles },
    ttl_sec: { type: 'integer' },
    dispatch_window_sec: { type: 'integer' }
  }
} as const

export const simulationSchema = {
  $id: 'Simulation',
  type: 'object',
  required: ['decision', 'reason', 'rule_id', 'matched_rules', 'policy_snapshot', 'job_hash', 'trace_id', 'recorded', 'matches'],
  additionalProperties: false,
  properties: {
    ...decisionCore,
    approval: approvalRequirementSchema,
    recorded: { type: 'boolean', const: false },
    /** The rate-limited rules that match: a real check would count the job under each key. */
    rate_limits: {
      type: 'array',
      items: {
        type: 'object',
        required: ['rule_id', 'key', 'max', 'window_sec'],
        additionalProperties: false,
        properties: { rule_id: { type: 'string' }, key: { type: 'string' }, max: { type: 'integer' }, window_sec: { type: 'integer' } }
      }
    },
    matches: {
      type: 'array',
      items: {
        type: 'object',
        required: ['rule_id', 'decision', 'reason', 'why'],
        additionalProperties: false,
        properties: {
          rule_id: { type: 'string' },
          decision: { type: 'string', enum: DECISIONS },
          reason: { type: 'string' },
          constraints: { $ref: 'Constraints#' },
          approval: approvalSpecSchema,
          missing_evidence: { type: 'array', items: { type: 'string' } },
          retry_after_ms: { type: 'integer' },
          why: { type: 'array', items: { type: 'string' } }
        }
      }
    }
  }
} as const

/** The 503 answer when a decision cannot be recorded: the error shape plus a DENY. */
export const unrecordedDenySchema = {
  $id: 'UnrecordedDeny',
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message', 'decision', 'reason', 'trace_id', 'job_hash', 'policy_snapshot'],
  additionalProperties: false,
  properties: {
    ...errorSchema.properties,
    decision: { type: 'string', const: 'DENY' },
    reason: { type: 'string' },
    trace_id: { type: 'string' },
    job_hash: sha256Id,
    policy_snapshot: sha256Id
  }
} as const

export const SHARED_SCHEMAS = [constraintsSchema, commandSummarySchema, approvalStateSchema, errorSchema, checkRequestSchema, decisionSchema, simulationSchema, unrecordedDenySchema]
