/**
 * Checkpoints: a statement "log L had N records and its head hash was H", signed with Ed25519.
 * Anyone holding the public key can check an exported log against it without any secret, which
 * catches what chain links alone cannot: a tail re-chained or cut after the fact.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import stableStringify from 'fast-json-stable-stringify'

export interface CheckpointStatement {
  v: 1
  log: string
  seq: number
  head_hash: string
  at: string
  key_id: string
}

export interface Checkpoint {
  tenant_id: string
  seq: number
  head_hash: string
  at: string
  key_id: string
  /** The exact canonical statement that was signed. */
  statement: string
  /** Base64 Ed25519 signature of `statement`. */
  signature: string
}

export interface CheckpointKey {
  id: string
  privateKey: KeyObject
  publicKey: KeyObject
}

/** Signs the head of a log. */
export function signCheckpoint (key: CheckpointKey, head: { tenantId: string, seq: number, hash: string, at: string }): Checkpoint {
  const statement = stableStringify({ v: 1, log: head.tenantId, seq: head.seq, head_hash: head.hash, at: head.at, key_id: key.id } satisfies CheckpointStatement)
  const signature = sign(null, Buffer.from(statement, 'utf8'), key.privateKey).toString('base64')
  return { tenant_id: head.tenantId, seq: head.seq, head_hash: head.hash, at: head.at, key_id: key.id, statement, signature }
}

/**
 * Checks a checkpoint's signature with a public key (PEM, SPKI), and that its fields are the
 * statement's. Returns the first problem, or null.
 */
export function checkCheckpoint (c: Checkpoint, publicKeys: ReadonlyMap<string, string | KeyObject>): string | null {
  const pem = publicKeys.get(c.key_id)
  if (pem === undefined) return `checkpoint signed with unknown key ${c.key_id}`
  const key = typeof pem === 'string' ? createPublicKey(pem) : pem
  if (!verify(null, Buffer.from(c.statement, 'utf8'), key, Buffer.from(c.signature, 'base64'))) return 'checkpoint signature does not verify'
  let s: CheckpointStatement
  try {
    s = JSON.parse(c.statement) as CheckpointStatement
  } catch {
    return 'checkpoint statement is not JSON'
  }
  if (s.log !== c.tenant_id || s.seq !== c.seq || s.head_hash !== c.head_hash || s.key_id !== c.key_id || s.at !== c.at) {
    return 'checkpoint fields do not match its signed statement'
  }
  return null
}
