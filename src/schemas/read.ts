/** Reading the log back: a trace's timeline, a job's story, and decisions and violations by filter, a page at a time. */
import { VIOLATION_KINDS } from '../domain/violations.js'
import { finding } from './output.js'
import { DECISIONS } from '../policy/types.js'
import { actor, closedObject, errorReplies, nameSchema, nullableString, opaqueCursor, pageOf, pathParams, printableId, strings, time, traceId } from './common.js'

const timelineEntry = closedObject({
  tenant_id: { type: 'string' },
  seq: { type: 'integer' },
  at: time,
  type: { type: 'string' },
  actor,
  trace_id: { type: 'string' },
  job_id: nullableString,
  decision: nullableString,
  rule_id: nullableString,
  reason: nullableString,
  status: nullableString,
  approval_state: nullableString,
  /** An output.verdict record's verdict. */
  verdict: nullableString,
  decision_id: { type: 'string' },
  constraints: { $ref: 'Constraints#' },
  approval_id: { type: 'string' },
  vote: { type: 'string' },
  note: nullableString,
  grant_id: { type: 'string' },
  uses: { type: 'integer' },
  detail: { type: 'string' },
  findings: { type: 'array', items: finding },
  kind: { type: 'string' }
}, ['tenant_id', 'seq', 'at', 'type', 'actor', 'trace_id', 'job_id', 'decision', 'rule_id', 'reason', 'status', 'approval_state', 'verdict'])

const timelineJob = closedObject({
  tenant_id: { type: 'string' },
  job_id: { type: 'string' },
  trace_id: { type: 'string' },
  terminal_status: nullableString,
  violations: { type: 'integer' }
}, ['tenant_id', 'job_id', 'trace_id', 'terminal_status', 'violations'])

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
    200: closedObject({
      trace_id: { type: 'string' },
      jobs: { type: 'array', items: timelineJob },
      linked_traces: strings,
      entries: { type: 'array', items: timelineEntry }
    }, ['trace_id', 'jobs', 'linked_traces', 'entries']),
    ...errorReplies(400, 404)
  }
} as const

const nullableObject = (properties: Record<string, unknown>, required: string[]): unknown => ({ ...closedObject(properties, required), type: ['object', 'null'] })

export const jobStoryRoute = {
  params: pathParams('job_id', printableId),
  querystring: closedObject({ tenant_id: nameSchema }),
  response: {
    200: closedObject({
      tenant_id: { type: 'string' },
      job_id: { type: 'string' },
      trace_id: { type: 'string' },
      traces: strings,
      decision: nullableObject({ decision_id: { type: 'string' }, decision: { type: 'string' }, rule_id: nullableString, reason: nullableString, at: time, trace_id: { type: 'string' } }, ['decision_id', 'decision', 'rule_id', 'reason', 'at', 'trace_id']),
      approval: nullableObject({ approval_id: { type: 'string' }, approval_state: { type: 'string' }, at: time }, ['approval_id', 'approval_state', 'at']),
      dispatch_status: nullableString,
      terminal_status: nullableString,
      violations: { type: 'integer' },
      entries: { type: 'array', items: timelineEntry }
    }, ['tenant_id', 'job_id', 'trace_id', 'traces', 'decision', 'approval', 'dispatch_status', 'terminal_status', 'violations', 'entries']),
    ...errorReplies(400, 404)
  }
} as const

/** The filters and paging every list of log records takes: a job, a tenant, a time window, a page. */
const recordListQuery = {
  job_id: printableId,
  tenant_id: nameSchema,
  since: time,
  until: time,
  cursor: opaqueCursor(512),
  limit: { type: 'string', pattern: '^([1-9][0-9]?|[1-4][0-9]{2}|500)$' }
} as const

export const decisionListRoute = {
  querystring: closedObject({
    ...recordListQuery,
    session_id: printableId,
    topic: printableId,
    decision: { type: 'string', enum: DECISIONS },
    rule_id: printableId
  }),
  response: { 200: pageOf('decisions', decisionItem), ...errorReplies(400) }
} as const

const violationItem = closedObject({
  tenant_id: { type: 'string' },
  seq: { type: 'integer' },
  job_id: { type: 'string' },
  trace_id: { type: 'string' },
  at: time,
  actor,
  status: { type: 'string' },
  kind: { type: 'string', enum: VIOLATION_KINDS },
  reason: { type: 'string' },
  decision: { type: 'string' },
  decision_id: { type: 'string' },
  signature: { type: 'string' }
}, ['tenant_id', 'seq', 'job_id', 'trace_id', 'at', 'actor', 'status', 'kind', 'reason', 'decision', 'decision_id', 'signature'])

export const violationListRoute = {
  querystring: closedObject(recordListQuery),
  response: { 200: pageOf('violations', violationItem), ...errorReplies(400) }
} as const
