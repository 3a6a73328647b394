/**
 * The tenant audit log's records: what is signed, how records chain, and how a sequence of
 * records is verified. Pure: no database, usable offline by the CLI and by third parties.
 *
 * A record's canonical text holds its log (tenant), sequence number and the previous record's
 * hash, so its HMAC signature binds it to its place; its own hash is sha256 of that text, so
 * deleting, inserting or reordering a record breaks the chain, not only editing one.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import stableStringify from 'fast-json-stable-stringify'

/** The closed list of record types. */
export const RECORD_TYPES = [
  'decision',
  'job.event',
  'job.violation',
  'decision.voided',
  'approval.requested',
  'approval.vote',
  'approval.resolved',
  'approval.expired',
  'approval.invalidated',
  'approval.superseded',
  'approval.cancelled',
  'approval.consumed',
  'approval.queued',
  'grant.created',
  'grant.revoked',
  'grant.used',
  'output.verdict',
  'policy.shadow'
] as const
export type RecordType = typeof RECORD_TYPES[number]

export const GENESIS_HASH = `sha256:${'0'.repeat(64)}`

/** Who acted, as derived by Arbiter (never self-declared by the caller). */
export type Actor = Record<string, string> | null

/** What a caller asks to append; the writer assigns `seq` and `prev`. */
export interface AuditEntry {
  type: RecordType
  tenant_id: string
  trace_id: string
  job_id: string | null
  at: string
  actor: Actor
  body: Record<string, unknown>
}

export interface SealedRecord {
  entry: AuditEntry
  seq: number
  prevHash: string
  /** Exactly the bytes the signature and the hash cover. */
  canonical: string
  keyId: string
  /** Hex HMAC-SHA256 of `canonical`. */
  mac: string
  /** `sha256:` + hex of `canonical`: the next record's `prev`. */
  hash: string
}

export interface HmacSigningKey {
  id: string
  secret: Buffer
}

export function sha256Tagged (text: string): string {
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`
}

export function hmacHex (secret: Buffer, text: string): string {
  return createHmac('sha256', secret).update(text, 'utf8').digest('hex')
}

/** Gives an entry its place in a log and signs it. */
export function sealRecord (entry: AuditEntry, seq: number, prevHash: string, key: HmacSigningKey): SealedRecord {
  const canonical = stableStringify({
    v: 1,
    log: entry.tenant_id,
    seq,
    prev: prevHash,
    type: entry.type,
    at: entry.at,
    trace_id: entry.trace_id,
    job_id: entry.job_id,
    actor: entry.actor,
    key_id: key.id,
    body: entry.body
  })
  return { entry, seq, prevHash, canonical, keyId: key.id, mac: hmacHex(key.secret, canonical), hash: sha256Tagged(canonical) }
}

/** A record as exported or read back: the stored text and what was stored beside it. */
export interface StoredRecord {
  tenant_id: string
  seq: number
  record: string
  key_id: string
  signature: string
  prev_hash: string
  hash: string
}

export interface ParsedRecord {
  v: 1
  log: string
  seq: number
  prev: string
  type: RecordType
  at: string
  trace_id: string
  job_id: string | null
  actor: Actor
  key_id: string
  body: Record<string, unknown>
}

export interface ChainProblem {
  seq: number
  problem: string
}

/**
 * Checks one record on its own: canonical form, hash, stored columns against the signed text,
 * and — when the HMAC keys are known — its signature.
 */
export function checkRecord (r: StoredRecord, hmacKeys?: ReadonlyMap<string, Buffer>): string | null {
  let parsed: ParsedRecord
  try {
    parsed = JSON.parse(r.record) as ParsedRecord
  } catch {
    return 'record is not JSON'
  }
  if (stableStringify(parsed) !== r.record) return 'record is not in canonical form'
  if (sha256Tagged(r.record) !== r.hash) return 'hash does not match the record'
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || parsed.v !== 1) return 'record is not a version 1 record object'
  if (parsed.seq !== r.seq || parsed.log !== r.tenant_id || parsed.prev !== r.prev_hash || parsed.key_id !== r.key_id) {
    return 'stored columns do not match the signed record'
  }
  if (!(RECORD_TYPES as readonly string[]).includes(parsed.type)) return `unknown record type ${String(parsed.type)}`
  if (hmacKeys !== undefined) {
    const secret = hmacKeys.get(r.key_id)
    if (secret === undefined) return `signed with unknown key ${r.key_id}`
    const expected = Buffer.from(hmacHex(secret, r.record), 'hex')
    const actual = Buffer.from(r.signature, 'hex')
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return 'signature does not match the record'
  }
  return null
}

/**
 * Verifies records of one log in order, starting after `(startSeq - 1, startPrev)`. Stops at the
 * first problem: a gap, a reorder, a broken link, a bad hash or signature.
 */
export class ChainVerifier {
  private expectedSeq: number
  private prev: string
  checked = 0

  constructor (readonly tenantId: string, start: { seq: number, prevHash: string } = { seq: 1, prevHash: GENESIS_HASH }, private readonly hmacKeys?: ReadonlyMap<string, Buffer>) {
    this.expectedSeq = start.seq
    this.prev = start.prevHash
  }

  /** The head so far: the last verified seq and its hash. */
  get head (): { seq: number, hash: string } {
    return { seq: this.expectedSeq - 1, hash: this.prev }
  }

  next (r: StoredRecord): ChainProblem | null {
    if (r.tenant_id !== this.tenantId) return { seq: r.seq, problem: `record of log ${r.tenant_id} in log ${this.tenantId}` }
    if (r.seq !== this.expectedSeq) {
      return { seq: this.expectedSeq, problem: `expected seq ${this.expectedSeq}, found ${r.seq}: a record is missing or out of order` }
    }
    const own = checkRecord(r, this.hmacKeys)
    if (own !== null) return { seq: r.seq, problem: own }
    if (r.prev_hash !== this.prev) return { seq: r.seq, problem: 'previous-hash link is broken: a record before it was changed, removed or reordered' }
    this.prev = r.hash
    this.expectedSeq++
    this.checked++
    return null
  }
}
