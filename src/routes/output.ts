import type { FastifyInstance } from 'fastify'
import { callerOf, jobTenant } from '../auth/plugin.js'
import type { HmacSigningKey } from '../audit/chain.js'
import type { Clock } from '../clock.js'
import { recordFailure } from '../errors.js'
import { FINDING_TYPES } from '../output/index.js'
import { checkOutput, type OutputCheckRequest } from '../jobs/output-check.js'
import type { CompiledPolicy } from '../policy/compile.js'
import { nameSchema } from '../policy/request-schema.js'
import type { AuditWriter } from '../ledger/writer.js'
import { sha256Id } from './schemas.js'

/** The largest output a request may carry (the policy's max_output_bytes is at most 8 MiB). */
export const MAX_OUTPUT_CHARS = 8 * 1024 * 1024
/** JSON escaping can double an output's size on the wire, and a little more holds the rest. */
const BODY_LIMIT = 2 * MAX_OUTPUT_CHARS + 64 * 1024

const finding = {
  type: 'object',
  required: ['type', 'line', 'column', 'start', 'end'],
  additionalProperties: false,
  properties: {
    type: { type: 'string', enum: FINDING_TYPES },
    line: { type: 'integer' },
    column: { type: 'integer' },
    start: { type: 'integer' },
    end: { type: 'integer' }
  }
} as const

export function outputRoutes (app: FastifyInstance, opts: { writer: AuditWriter, clock: Clock, policy: () => CompiledPolicy, key: HmacSigningKey, budgetMs: number }): void {
  app.post<{ Body: OutputCheckRequest }>('/check/output', {
    config: { access: ['scheduler'] },
    bodyLimit: BODY_LIMIT,
    schema: {
      body: {
        type: 'object',
        required: ['job_id', 'output'],
        additionalProperties: false,
        properties: {
          job_id: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' },
          tenant_id: nameSchema,
          trace_id: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.:-]+$' },
          output: { type: 'string', maxLength: MAX_OUTPUT_CHARS },
          content_type: { type: 'string', minLength: 1, maxLength: 128 }
        }
      },
      response: {
        200: {
          type: 'object',
          required: ['job_id', 'tenant_id', 'trace_id', 'verdict', 'reason', 'findings', 'output_hmac', 'output_bytes', 'scanned_bytes', 'truncated', 'policy_snapshot', 'seq', 'at', 'signature'],
          additionalProperties: false,
          properties: {
            job_id: { type: 'string' },
            tenant_id: { type: 'string' },
            trace_id: { type: 'string' },
            verdict: { type: 'string', enum: ['ALLOW', 'REDACT', 'QUARANTINE'] },
            reason: { type: 'string' },
            findings: { type: 'array', items: finding },
            output: { type: 'string' },
            output_hmac: { type: 'string', pattern: '^hmac-sha256:[A-Za-z0-9_]+:[0-9a-f]{64}$' },
            output_bytes: { type: 'integer' },
            scanned_bytes: { type: 'integer' },
            truncated: { type: 'boolean' },
            policy_snapshot: sha256Id,
            seq: { type: 'integer' },
            at: { type: 'string', format: 'date-time' },
            signature: { type: 'string' }
          }
        },
        400: { $ref: 'Error#' },
        404: { $ref: 'Error#' },
        409: { $ref: 'Error#' },
        415: { $ref: 'Error#' },
        503: { $ref: 'Error#' }
      }
    }
  }, async (request, reply) => {
    const tenantId = jobTenant(request, reply, request.body.tenant_id, request.body.job_id)
    const caller = callerOf(request)
    const { scan, record, policySnapshot } = await checkOutput(opts, request.body, caller, request.receivedAt + opts.budgetMs)
      .catch(recordFailure('the verdict'))
    const { redacted, ...rest } = scan
    return {
      job_id: request.body.job_id,
      tenant_id: tenantId,
      trace_id: record.entry.trace_id,
      ...rest,
      // The output goes on only redacted; a quarantined or clean one the caller already holds.
      ...(redacted === undefined ? {} : { output: redacted }),
      policy_snapshot: policySnapshot,
      seq: record.seq,
      at: record.entry.at,
      signature: `hmac-sha256:${record.keyId}:${record.mac}`
    }
  })
}
