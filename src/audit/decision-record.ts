/**
 * Decision records: the canonical JSON that is signed and stored, and its verification.
 * The stored text is the signed text; it is never re-derived from columns.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import stableStringify from 'fast-json-stable-stringify'
import { jobHash } from '../policy/job.js'
import type { Constraints, Decision, Job } from '../policy/types.js'

export interface DecisionFields {
  decision_id: string
  trace_id: string
  checked_at: string
  job: Job
  job_hash: string
  decision: Decision
  reason: string
  rule_id: string | null
  matched_rules: string[]
  constraints?: Constraints
  policy_snapshot: string
}

export interface SignedDecision {
  fields: DecisionFields
  /** Exactly the bytes the signature covers. */
  canonical: string
  keyId: string
  /** Hex HMAC-SHA256 of `canonical`. */
  mac: string
  /** `hmac-sha256:<key id>:<hex>`, as the API shows it. */
  signature: string
}

export interface SigningKey {
  id: string
  secret: Buffer
}

const RECORD_TYPE = 'decision'

export function hmacHex (secret: Buffer, text: string): string {
  return createHmac('sha256', secret).update(text, 'utf8').digest('hex')
}

/** Serializes and signs a decision; the key id is inside the signed bytes. */
export function signDecision (fields: DecisionFields, key: SigningKey): SignedDecision {
  const canonical = stableStringify({ type: RECORD_TYPE, key_id: key.id, ...fields })
  const mac = hmacHex(key.secret, canonical)
  return { fields, canonical, keyId: key.id, mac, signature: `hmac-sha256:${key.id}:${mac}` }
}

/** A stored decision row as read back from the database. */
export interface StoredDecision {
  decision_id: string
  trace_id: string
  job_id: string
  tenant_id: string
  topic: string
  decision: string
  rule_id: string | null
  job_hash: string
  policy_snapshot: string
  checked_at: Date | string
  record: string
  key_id: string
  signature: string
}

/**
 * Verifies a stored row: its signature over the stored text, and that every queryable column
 * agrees with the signed text. Returns the first problem, or null.
 */
export function verifyStoredDecision (row: StoredDecision, keys: ReadonlyMap<string, Buffer>): string | null {
  const secret = keys.get(row.key_id)
  if (secret === undefined) return `unknown key id ${row.key_id}`
  const expected = Buffer.from(hmacHex(secret, row.record), 'hex')
  const actual = Buffer.from(row.signature, 'hex')
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return 'signature does not match the record'
  let rec: Record<string, unknown>
  try {
    rec = JSON.parse(row.record) as Record<string, unknown>
  } catch {
    return 'record is not JSON'
  }
  if (stableStringify(rec) !== row.record) return 'record is not in canonical form'
  const job = rec.job as Record<string, unknown> | undefined
  if (job === undefined || jobHash(job as unknown as Job) !== rec.job_hash) return 'job_hash does not match the signed job'
  const checks: Array<[string, unknown, unknown]> = [
    ['type', rec.type, RECORD_TYPE],
    ['key_id', rec.key_id, row.key_id],
    ['decision_id', rec.decision_id, row.decision_id],
    ['trace_id', rec.trace_id, row.trace_id],
    ['job_id', job?.job_id, row.job_id],
    ['tenant_id', job?.tenant_id, row.tenant_id],
    ['topic', job?.topic, row.topic],
    ['decision', rec.decision, row.decision],
    ['rule_id', rec.rule_id, row.rule_id],
    ['job_hash', rec.job_hash, row.job_hash],
    ['policy_snapshot', rec.policy_snapshot, row.policy_snapshot],
    ['checked_at', new Date(rec.checked_at as string).getTime(), new Date(row.checked_at).getTime()]
  ]
  for (const [name, signed, column] of checks) {
    if (signed !== column) return `column ${name} does not match the signed record`
  }
  return null
}
