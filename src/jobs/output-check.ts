/**
 * Output safety: what a job produced is scanned before it flows downstream, and the verdict is
 * recorded in the job's tenant log under the job's trace. The scan is pure and runs before the
 * log's lock is taken; the record holds where each finding is and the output's keyed hash, never
 * the output or a secret.
 */
import { createHmac } from 'node:crypto'
import type { HmacSigningKey, SealedRecord } from '../audit/chain.js'
import { actorOf, speaksForJob, type Principal } from '../auth/principal.js'
import type { Clock } from '../clock.js'
import { errorFor } from '../errors/index.js'
import { outputVerdict, redactOutput, scanOutput, summarizeFindings, type OutputVerdict } from '../output/index.js'
import type { CompiledPolicy } from '../policy/compile.js'
import { DEFAULT_TENANT } from '../policy/job.js'
import { jobState } from '../store/log-read.js'
import type { AuditWriter } from '../ledger/writer.js'

export interface OutputCheckRequest {
  job_id: string
  tenant_id?: string
  trace_id?: string
  output: string
  content_type?: string
}

export interface OutputScan {
  verdict: OutputVerdict
  reason: string
  findings: ReturnType<typeof summarizeFindings>
  /** The output to pass on when the verdict is REDACT. */
  redacted?: string
  /**
   * `hmac-sha256:<key id>:<hex>` of the output under the log's signing key: binds the verdict to
   * the output without letting a reader of the log guess a short secret from a plain hash.
   */
  output_hmac: string
  output_bytes: number
  scanned_bytes: number
  truncated: boolean
}

/** Scans an output under the policy's output rules. Pure. */
export function scanJobOutput (policy: CompiledPolicy, output: string, key: HmacSigningKey): OutputScan {
  const settings = policy.output
  const outputBytes = Buffer.byteLength(output)
  const digest = `hmac-sha256:${key.id}:${createHmac('sha256', key.secret).update(output).digest('hex')}`
  if (outputBytes > settings.maxOutputBytes && settings.onOversize === 'quarantine') {
    return {
      verdict: 'QUARANTINE',
      reason: `output is ${outputBytes} bytes, over max_output_bytes (${settings.maxOutputBytes}); unscanned output is quarantined`,
      findings: [],
      output_hmac: digest,
      output_bytes: outputBytes,
      scanned_bytes: 0,
      truncated: true
    }
  }
  const scan = scanOutput(output, { maxBytes: settings.maxOutputBytes, detectors: settings.detectors })
  const { verdict, because } = outputVerdict(scan.findings, settings.verdicts)
  const unscanned = scan.truncated ? `; only the first ${scan.scannedBytes} bytes were scanned (on_oversize: scan_prefix)` : ''
  const reason = (because.length === 0 ? 'no finding calls for action' : `${verdict.toLowerCase()} because of: ${because.join(', ')}`) + unscanned
  const result: OutputScan = {
    verdict,
    reason,
    findings: summarizeFindings(scan.findings),
    output_hmac: digest,
    output_bytes: outputBytes,
    scanned_bytes: scan.scannedBytes,
    truncated: scan.truncated
  }
  if (verdict === 'REDACT') {
    // A scan_prefix policy passes the unscanned rest on as it is: it chose to.
    result.redacted = redactOutput(output.slice(0, scan.scannedLength), scan.findings) + output.slice(scan.scannedLength)
  }
  return result
}

/** Scans, then records the verdict; an unknown job (or another agent's) is a 404. */
export async function checkOutput (
  deps: { writer: AuditWriter, clock: Clock, policy: () => CompiledPolicy, key: HmacSigningKey },
  request: OutputCheckRequest,
  reporter: Principal,
  deadline: number
): Promise<{ scan: OutputScan, record: SealedRecord, policySnapshot: string }> {
  const tenantId = request.tenant_id ?? DEFAULT_TENANT
  const policy = deps.policy()
  const scan = scanJobOutput(policy, request.output, deps.key)
  const { records } = await deps.writer.transact(tenantId, deadline, async (tx) => {
    const job = await jobState(tx, tenantId, request.job_id)
    if (job === undefined || !speaksForJob(reporter, job.principalId)) throw errorFor('noJob', request.job_id)
    if (request.trace_id !== undefined && request.trace_id !== job.traceId) throw errorFor('traceMismatch', request.job_id)
    const { redacted: _redacted, ...evidence } = scan
    const entry = {
      type: 'output.verdict' as const,
      tenant_id: tenantId,
      trace_id: job.traceId,
      job_id: request.job_id,
      at: deps.clock.now().toISOString(),
      actor: actorOf(reporter),
      body: { ...evidence, decision_id: job.decisionId, policy_snapshot: policy.snapshotId, ...(request.content_type === undefined ? {} : { content_type: request.content_type }) }
    }
    return { entries: [entry], result: undefined }
  })
  return { scan, record: records[0], policySnapshot: policy.snapshotId }
}
