import type { FastifyInstance } from 'fastify'
import { callerOf, jobTenant } from '../auth/plugin.js'
import type { HmacSigningKey } from '../audit/chain.js'
import type { Clock } from '../clock.js'
import { recordFailure } from '../errors/index.js'
import { checkOutput, type OutputCheckRequest } from '../jobs/output-check.js'
import type { CompiledPolicy } from '../policy/compile.js'
import type { AuditWriter } from '../ledger/writer.js'
import { MAX_OUTPUT_CHARS, outputCheckRoute } from '../schemas/output.js'

/** JSON escaping can double an output's size on the wire, and a little more holds the rest. */
const BODY_LIMIT = 2 * MAX_OUTPUT_CHARS + 64 * 1024

export function outputRoutes (app: FastifyInstance, opts: { writer: AuditWriter, clock: Clock, policy: () => CompiledPolicy, key: HmacSigningKey, budgetMs: number }): void {
  app.post<{ Body: OutputCheckRequest }>('/check/output', {
    config: { access: ['scheduler'] },
    bodyLimit: BODY_LIMIT,
    schema: outputCheckRoute
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
