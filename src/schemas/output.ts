/** A job's output, checked for secrets and personal data before it goes on. */
import { FINDING_TYPES } from '../output/index.js'
import { closedObject, errorReplies, hmacSignature, nameSchema, printableId, sha256Id, time, traceId } from './common.js'

/** The largest output a request may carry (the policy's max_output_bytes is at most 8 MiB). */
export const MAX_OUTPUT_CHARS = 8 * 1024 * 1024

/** Where a finding is in an output: its kind and place, never its text. */
export const finding = closedObject({
  // A built-in type, or the id of one of the policy's own detectors (output_rules.detectors).
  type: { type: 'string', anyOf: [{ enum: FINDING_TYPES }, { pattern: '^[a-z][a-z0-9_]{0,63}$' }] },
  line: { type: 'integer' },
  column: { type: 'integer' },
  start: { type: 'integer' },
  end: { type: 'integer' }
}, ['type', 'line', 'column', 'start', 'end'])

export const outputCheckRoute = {
  body: closedObject({
    job_id: printableId,
    tenant_id: nameSchema,
    trace_id: traceId,
    output: { type: 'string', maxLength: MAX_OUTPUT_CHARS },
    content_type: { type: 'string', minLength: 1, maxLength: 128 }
  }, ['job_id', 'output']),
  response: {
    200: closedObject({
      job_id: { type: 'string' },
      tenant_id: { type: 'string' },
      trace_id: { type: 'string' },
      verdict: { type: 'string', enum: ['ALLOW', 'REDACT', 'QUARANTINE'] },
      reason: { type: 'string' },
      findings: { type: 'array', items: finding },
      output: { type: 'string' },
      output_hmac: hmacSignature,
      output_bytes: { type: 'integer' },
      scanned_bytes: { type: 'integer' },
      truncated: { type: 'boolean' },
      policy_snapshot: sha256Id,
      seq: { type: 'integer' },
      at: time,
      signature: { type: 'string' }
    }, ['job_id', 'tenant_id', 'trace_id', 'verdict', 'reason', 'findings', 'output_hmac', 'output_bytes', 'scanned_bytes', 'truncated', 'policy_snapshot', 'seq', 'at', 'signature']),
    ...errorReplies(400, 404, 409, 415, 503)
  }
} as const
