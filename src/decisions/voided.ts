/**
 * A decision whose caller was answered 503 (an unrecorded DENY) but whose record committed
 * anyway: the COMMIT raced the check budget, or its lost answer was read back as committed. The
 * log must not show an ALLOW that nobody was given, so each such decision gets a follow-up
 * `decision.voided` record in the same log naming it. Pure: the writer reports late records and
 * the service appends what this returns.
 */
import type { AuditEntry, SealedRecord } from '../audit/chain.js'

/** The actor of records Arbiter writes about its own log. */
export const WRITER_ACTOR = Object.freeze({ system: 'arbiter-writer' })

export const VOIDED_REASON = 'its caller was answered 503 ARBITER_ERR_RECORD_UNAVAILABLE, an unrecorded DENY, before this record committed: the decision was never given'

/** The `decision.voided` records for the decisions among `late`, records that committed after their callers were answered. */
export function voidedEntries (late: readonly SealedRecord[], at: Date): AuditEntry[] {
  return late.filter((r) => r.entry.type === 'decision').map((r) => ({
    type: 'decision.voided' as const,
    tenant_id: r.entry.tenant_id,
    trace_id: r.entry.trace_id,
    job_id: r.entry.job_id,
    at: at.toISOString(),
    actor: WRITER_ACTOR,
    body: {
      decision_id: r.entry.body.decision_id,
      voided_seq: r.seq,
      voided_decision: r.entry.body.decision,
      told: 'DENY',
      reason: VOIDED_REASON
    }
  }))
}
