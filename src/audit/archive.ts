/**
 * Archive statements: "log L's records up to seq N, the last with hash H, left the database for
 * an archive of what was filed before B", signed with the checkpoint key (Ed25519) by
 * `arbiter audit archive` when it drops the partitions (src/ledger/archive.ts). An export takes
 * a log that starts after seq 1 as whole only on such a statement: without the key nobody can
 * drop a log's oldest records and call them archived. Pure: no I/O.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import stableStringify from 'fast-json-stable-stringify'
import type { CheckpointKey } from './checkpoint.js'

export interface ArchiveStatement {
  v: 1
  kind: 'archive'
  log: string
  seq: number
  head_hash: string
  before: string
  at: string
  key_id: string
}

/** An archive statement as stored in `audit_archives`. */
export interface Archived {
  tenant_id: string
  seq: number
  head_hash: string
  before: string
  at: string
  key_id: string
  /** The exact canonical statement that was signed. */
  statement: string
  /** Base64 Ed25519 signature of `statement`. */
  signature: string
}

export function signArchive (key: CheckpointKey, a: { tenantId: string, seq: number, hash: string, before: string, at: string }): Archived {
  const statement = stableStringify({ v: 1, kind: 'archive', log: a.tenantId, seq: a.seq, head_hash: a.hash, before: a.before, at: a.at, key_id: key.id } satisfies ArchiveStatement)
  const signature = sign(null, Buffer.from(statement, 'utf8'), key.privateKey).toString('base64')
  return { tenant_id: a.tenantId, seq: a.seq, head_hash: a.hash, before: a.before, at: a.at, key_id: key.id, statement, signature }
}

/** The first problem with an archive statement (its signature, its fields against it), or null. */
export function checkArchive (a: Archived, publicKeys: ReadonlyMap<string, string | KeyObject>): string | null {
  const pem = publicKeys.get(a.key_id)
  if (pem === undefined) return `the archive statement is signed with unknown key ${a.key_id}`
  const key = typeof pem === 'string' ? createPublicKey(pem) : pem
  if (!verify(null, Buffer.from(a.statement, 'utf8'), key, Buffer.from(a.signature, 'base64'))) return 'the archive statement\'s signature does not verify'
  let s: Partial<ArchiveStatement>
  try {
    s = JSON.parse(a.statement) as Partial<ArchiveStatement>
  } catch {
    return 'the archive statement is not JSON'
  }
  const same = s.kind === 'archive' && s.log === a.tenant_id && s.seq === a.seq && s.head_hash === a.head_hash && s.key_id === a.key_id &&
    typeof s.before === 'string' && Date.parse(s.before) === Date.parse(a.before)
  return same ? null : 'the archive statement\'s fields do not match what it signed'
}
