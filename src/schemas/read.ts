/** Reading the log back: a trace's timeline, and decisions by filter, a page at a time. */
import { DECISIONS } from '../policy/types.js'
import { actor, closedObject, errorReplies, nameSchema, nullableString, opaqueCursor, pageOf, pathParams, printableId, strings, time, traceId } from './common.js'

const timelineEntry = closedObject({
  tenant_id: { type: 'string' },
  seq: { type: 'integer' },
  at: time,
  type: { type: 'string' },
  actor,
  job_id: nullableString,
  decision: nullableString,
  rule_id: nullableString,
  reason: nullableString,
  status: nullableString,
  approval_state: nullableString,
  /** An output.verdict record's verdict. */
  verdict: nullableString,
  job_status: nullableString
}, ['tenant_id', 'seq', 'at', 'type', 'actor', 'job_id', 'decision', 'rule_id', 'reason', 'status', 'approval_state', 'verdict', 'job_status'])

const decisionItem = closedObject({
  decision_id: { type: 'string' },
  tenant_id: { type: 'string' },
  seq: { type: 'integer' },
  job_id: { type: 'string' },
  topic: { type: 'string' },
  decision: { type: 'string', enum: DECISIONS },
  reason: { type: 'string' },
  rule_id: nullableString,
  matched_rules: strings,
  constraints: { $ref: 'Constraints#' },
  job_hash: { type: 'string' },
  policy_snapshot: { type: 'string' },
  trace_id: { type: 'string' },
  checked_at: time,
  signature: { type: 'string' }
}, ['decision_id', 'tenant_id', 'seq', 'job_id', 'topic', 'decision', 'reason', 'rule_id', 'matched_rules', 'job_hash', 'policy_snapshot', 'trace_id', 'checked_at', 'signature'])

export const traceRoute = {
  params: pathParams('trace_id', traceId),
  response: {
    200: closedObject({ trace_id: { type: 'string' }, entries: { type: 'array', items: timelineEntry } }, ['trace_id', 'entries']),
    ...errorReplies(400, 404)
  }
} as const

export const decisionListRoute = {
  querystring: closedObject({
    job_id: printableId,
    tenant_id: nameSchema,
    topic: printableId,
    decision: { type: 'string', enum: DECISIONS },
    rule_id: printableId,
    since: time,
    until: time,
    cursor: opaqueCursor(512),
    limit: { type: 'string', pattern: '^([1-9][0-9]?|[1-4][0-9]{2}|500)$' }
  }),
  response: { 200: pageOf('decisions', decisionItem), ...errorReplies(400) }
} as const
