/**
 * /check and /check/simulate: the request (the policy core's own schema) and the answers, a
 * recorded decision, a simulation, or the DENY given when a decision cannot be recorded.
 */
import { DECISIONS } from '../policy/types.js'
import { COMMAND_CLASSES } from '../policy/shell/analyze.js'
import { errorSchema, hmacSignature, sha256Id, strings, time, uuid } from './common.js'

export { checkRequestSchema } from '../policy/request-schema.js'

export const constraintsSchema = {
  $id: 'Constraints',
  type: 'object',
  additionalProperties: false,
  properties: {
    max_runtime_sec: { type: 'integer' },
    max_retries: { type: 'integer' },
    max_output_bytes: { type: 'integer' },
    allowed_paths: strings,
    network_allowlist: strings
  }
} as const

export const commandSummarySchema = {
  $id: 'CommandSummary',
  type: 'object',
  required: ['parsed', 'classes'],
  additionalProperties: false,
  properties: {
    parsed: { type: 'boolean' },
    classes: { type: 'array', items: { type: 'string', enum: COMMAND_CLASSES } },
    error: { type: 'string' },
    commands: {
      type: 'array',
      items: {
        type: 'object',
        required: ['text', 'classes'],
        additionalProperties: false,
        properties: {
          text: { type: 'string' },
          classes: { type: 'array', items: { type: 'string', enum: COMMAND_CLASSES } },
          reason: { type: 'string' }
        }
      }
    },
    decided_by: {
      type: 'object',
      required: ['command'],
      additionalProperties: false,
      properties: {
        command: { type: 'integer', minimum: 0 },
        class: { type: 'string', enum: COMMAND_CLASSES }
      }
    }
  }
} as const

const decisionCore = {
  decision: { type: 'string', enum: DECISIONS },
  reason: { type: 'string' },
  rule_id: { type: ['string', 'null'] },
  matched_rules: strings,
  constraints: { $ref: 'Constraints#' },
  policy_snapshot: sha256Id,
  job_hash: sha256Id,
  trace_id: { type: 'string' },
  /** THROTTLE: how long to wait before checking again (also the Retry-After header, in seconds). */
  retry_after_ms: { type: 'integer', minimum: 1 },
  /** Risk tags the policy added to the declared ones; the declared ones are the job's own. */
  derived_risk_tags: strings,
  /** What the job's command was found to be. */
  command: { $ref: 'CommandSummary#' },
  /** Evidence the deciding rule requires that the job lacks. */
  missing_evidence: strings
} as const

export const decisionSchema = {
  $id: 'Decision',
  type: 'object',
  required: ['decision', 'reason', 'rule_id', 'matched_rules', 'policy_snapshot', 'job_hash', 'decision_id', 'trace_id', 'checked_at', 'signature'],
  additionalProperties: false,
  properties: {
    ...decisionCore,
    decision_id: uuid,
    checked_at: time,
    signature: hmacSignature,
    policy_decision: { type: 'string', const: 'REQUIRE_APPROVAL' },
    approval: { $ref: 'ApprovalState#' },
    approval_ref: uuid,
    grant_ref: uuid
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
    dispatch_window_sec: { type: 'integer' },
    single_flight: { enum: ['session'] }
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
    dispatch_window_sec: { type: 'integer' },
    single_flight: { type: 'string', enum: ['session'] }
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
          missing_evidence: strings,
          retry_after_ms: { type: 'integer' },
          why: strings
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
