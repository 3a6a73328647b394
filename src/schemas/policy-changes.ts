/** Replays of recorded traffic under a candidate policy, and the shadow policy's report. */
import { DECISIONS } from '../policy/types.js'
import { closedObject, errorReplies, nameSchema, nullableString, nullableTime, pathParams, sha256Id, strings, time, uuid } from './common.js'

const decision = { enum: DECISIONS } as const
const nullableRule = nullableString
const cells = { type: 'array', items: closedObject({ live: decision, candidate: decision, count: { type: 'integer' } }, ['live', 'candidate', 'count']) } as const
const counted = (key: string): unknown => ({
  type: 'array',
  items: closedObject({ [key]: { type: 'string' }, judged: { type: 'integer' }, changed: { type: 'integer' } }, [key, 'judged', 'changed'])
})

const example = closedObject({
  tenant_id: { type: 'string' },
  job_id: { type: 'string' },
  trace_id: { type: 'string' },
  decision_id: { type: 'string' },
  seq: { type: 'integer' },
  at: time,
  live_rule: nullableRule,
  candidate_rule: nullableRule
}, ['tenant_id', 'job_id', 'trace_id', 'decision_id', 'seq', 'at', 'live_rule', 'candidate_rule'])

export const replayResultSchema = closedObject({
  candidate_snapshot: sha256Id,
  live_snapshots: { type: 'array', items: closedObject({ snapshot_id: { type: 'string' }, count: { type: 'integer' } }, ['snapshot_id', 'count']) },
  complete: { type: 'boolean' },
  judged_from: nullableTime,
  judged: { type: 'integer' },
  changed: { type: 'integer' },
  loosened: { type: 'integer' },
  tightened: { type: 'integer' },
  rule_changed: { type: 'integer' },
  via: closedObject({ approval: { type: 'integer' }, grant: { type: 'integer' } }, ['approval', 'grant']),
  rate_limited: { type: 'integer' },
  matrix: cells,
  changes_by_rule: { type: 'array', items: closedObject({ live_rule: nullableRule, candidate_rule: nullableRule, live: decision, candidate: decision, count: { type: 'integer' } }, ['live_rule', 'candidate_rule', 'live', 'candidate', 'count']) },
  tenants: counted('tenant_id'),
  topics: counted('topic'),
  examples: { type: 'array', items: closedObject({ live: decision, candidate: decision, jobs: { type: 'array', items: example } }, ['live', 'candidate', 'jobs']) },
  fail_on: strings,
  failures: { type: 'array', items: closedObject({ fail_on: { type: 'string' }, count: { type: 'integer' } }, ['fail_on', 'count']) }
}, ['candidate_snapshot', 'live_snapshots', 'complete', 'judged_from', 'judged', 'changed', 'loosened', 'tightened', 'rule_changed', 'via', 'rate_limited', 'matrix', 'changes_by_rule', 'tenants', 'topics', 'examples', 'fail_on', 'failures'])

const replayRun = closedObject({
  replay_id: uuid,
  status: { enum: ['running', 'done', 'failed'] },
  candidate_snapshot: sha256Id,
  window: closedObject({ since: nullableTime, until: nullableTime, tenant_id: nullableString }, ['since', 'until', 'tenant_id']),
  started_at: time,
  finished_at: nullableTime,
  judged: { type: 'integer' },
  result: { oneOf: [{ type: 'null' }, replayResultSchema] },
  error: nullableString
}, ['replay_id', 'status', 'candidate_snapshot', 'window', 'started_at', 'finished_at', 'judged', 'result', 'error'])

/** A policy file as the candidate's body carries it: a plain name, as in a policy directory. */
const candidateFile = closedObject({
  file: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\\.ya?ml$' },
  text: { type: 'string', maxLength: 262144 }
}, ['file', 'text'])

/** How large a replay request may be: the candidate's files, which policies rarely take past a few hundred KiB. */
export const REPLAY_BODY_LIMIT = 1_048_576

export const replayStartRoute = {
  body: closedObject({
    files: { type: 'array', minItems: 1, maxItems: 64, items: candidateFile },
    since: time,
    until: time,
    tenant_id: nameSchema,
    /** As `arbiter policy replay --fail-on`: LIVE>CANDIDATE (decisions or *), any-loosening, any-tightening, any. */
    fail_on: { type: 'string', maxLength: 1024 },
    examples: { type: 'integer', minimum: 0, maximum: 100 },
    max_seconds: { type: 'integer', minimum: 1, maximum: 600 }
  }, ['files']),
  response: { 202: replayRun, ...errorReplies(400, 404, 415, 422, 429) }
} as const

export const replayGetRoute = {
  params: pathParams('replay_id', uuid),
  response: { 200: replayRun, ...errorReplies(400, 404) }
} as const

export const shadowReportRoute = {
  response: {
    200: closedObject({
      enabled: { type: 'boolean' },
      candidate_snapshot: { type: ['string', 'null'] },
      live_snapshot: { type: ['string', 'null'] },
      since: nullableTime,
      evaluated: { type: 'integer' },
      disagreements: { type: 'integer' },
      matrix: cells,
      by_rule: { type: 'array', items: closedObject({ candidate_rule: nullableRule, live: decision, candidate: decision, count: { type: 'integer' } }, ['candidate_rule', 'live', 'candidate', 'count']) },
      samples: {
        type: 'array',
        items: closedObject({
          at: time,
          tenant_id: { type: 'string' },
          job_id: { type: 'string' },
          trace_id: { type: 'string' },
          decision_id: { type: 'string' },
          topic: { type: 'string' },
          live: decision,
          live_rule: nullableRule,
          candidate: decision,
          candidate_rule: nullableRule
        }, ['at', 'tenant_id', 'job_id', 'trace_id', 'decision_id', 'topic', 'live', 'live_rule', 'candidate', 'candidate_rule'])
      },
      last_reload_error: { type: ['object', 'null'], additionalProperties: true },
      errors: { type: 'integer' }
    }, ['enabled', 'candidate_snapshot', 'live_snapshot', 'since', 'evaluated', 'disagreements', 'matrix', 'by_rule', 'samples', 'last_reload_error', 'errors'])
  }
} as const
