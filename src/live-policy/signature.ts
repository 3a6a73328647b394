/**
 * Detached policy signatures: Ed25519 over the name and sha256 of every policy file, so that
 * someone who can write the policy directory but holds no trusted private key cannot change
 * what is enforced. Pure: callers read the files and the signature file and hand in the text.
 *
 * The signed payload is always rebuilt from the files actually read; the file list inside the
 * signature file only serves to say what changed. Test suites (`*.test.yaml`) are not covered:
 * they are not part of the policy (readPolicySources never returns them), so they can change
 * without a new signature and cannot change a decision.
 */
import { createHash, sign, verify, type KeyObject } from 'node:crypto'
import { checkpointKeyId } from '../audit/checkpoint-key.js'
import type { PolicySource } from '../policy/types.js'

export const SIGNATURE_FORMAT = 'arbiter-policy-signature/v1'
/** The signature's name in a policy directory; beside a single-file policy it is `<file>.sig`. */
export const SIGNATURE_FILE = 'policy.sig'
/** Starts every signed payload, so no other Ed25519 signature Arbiter makes (a checkpoint) reads as one. */
const DOMAIN = 'arbiter policy signature v1\n'

export interface SignedFile {
  file: string
  sha256: string
}

export interface PolicySignature {
  format: typeof SIGNATURE_FORMAT
  key_id: string
  signed_at: string
  files: SignedFile[]
  /** Base64 Ed25519 signature of the payload built from the other fields. */
  signature: string
}

/** Trusted public keys by key id. */
export type TrustedKeys = ReadonlyMap<string, KeyObject>

export type SignatureVerdict =
  | { ok: true, keyId: string, signedAt: string }
  | { ok: false, problems: string[] }

/** `ek_` and 16 hex digits of the sha256 of the SPKI DER: the checkpoint keys' scheme. */
export function policyKeyId (publicKey: KeyObject): string {
  return checkpointKeyId(publicKey.export({ type: 'spki', format: 'der' }))
}

/** Every policy file's name and the sha256 of its text, in name order. */
export function signedFiles (sources: readonly PolicySource[]): SignedFile[] {
  return sources
    .map((s) => ({ file: s.file, sha256: createHash('sha256').update(s.text, 'utf8').digest('hex') }))
    .sort((a, b) => a.file < b.file ? -1 : a.file > b.file ? 1 : 0)
}

/**
 * The bytes signed. JSON quotes every name, so no file name (which may hold a newline) can make
 * two different file sets read alike.
 */
export function signaturePayload (keyId: string, signedAt: string, files: readonly SignedFile[]): Buffer {
  return Buffer.from(DOMAIN + JSON.stringify({ key_id: keyId, signed_at: signedAt, files: files.map((f) => [f.file, f.sha256]) }), 'utf8')
}

/** Signs the policy made of `sources` with an Ed25519 private key. */
export function signPolicy (sources: readonly PolicySource[], privateKey: KeyObject, publicKey: KeyObject, signedAt: Date): PolicySignature {
  const keyId = policyKeyId(publicKey)
  const at = signedAt.toISOString()
  const files = signedFiles(sources)
  const signature = sign(null, signaturePayload(keyId, at, files), privateKey).toString('base64')
  return { format: SIGNATURE_FORMAT, key_id: keyId, signed_at: at, files, signature }
}

/** The text of a signature file. */
export function formatSignature (s: PolicySignature): string {
  return JSON.stringify(s, null, 2) + '\n'
}

/**
 * Whether `sigText` is a signature, by a trusted key, over exactly the files in `sources`.
 * `sigName` names the signature file in problems; `sigText` undefined means there is none.
 */
export function verifyPolicySignature (sources: readonly PolicySource[], sigText: string | undefined, trusted: TrustedKeys, sigName: string): SignatureVerdict {
  if (sigText === undefined) {
    return refuse(`${sigName}: missing; POLICY_TRUSTED_KEYS is set, so only a policy signed with \`arbiter policy sign\` loads`)
  }
  const sig = parseSignature(sigText)
  if (typeof sig === 'string') return refuse(`${sigName}: ${sig}`)
  const key = trusted.get(sig.key_id)
  if (key === undefined) {
    return refuse(`${sigName}: signed by key ${sig.key_id}, which is not trusted (POLICY_TRUSTED_KEYS holds ${[...trusted.keys()].join(', ')})`)
  }
  const files = signedFiles(sources)
  const problems = fileChanges(sig.files, files, sigName)
  if (problems.length > 0) return { ok: false, problems }
  if (!verify(null, signaturePayload(sig.key_id, sig.signed_at, files), key, Buffer.from(sig.signature, 'base64'))) {
    return refuse(`${sigName}: the signature does not verify with key ${sig.key_id}: the signature file was altered, or made for other files`)
  }
  return { ok: true, keyId: sig.key_id, signedAt: sig.signed_at }
}

function refuse (problem: string): SignatureVerdict {
  return { ok: false, problems: [problem] }
}

/** What differs between the files a signature lists and the files read. */
function fileChanges (listed: readonly SignedFile[], read: readonly SignedFile[], sigName: string): string[] {
  const problems: string[] = []
  const signed = new Map(listed.map((f) => [f.file, f.sha256]))
  const present = new Set(read.map((f) => f.file))
  for (const f of read) {
    const sha = signed.get(f.file)
    if (sha === undefined) problems.push(`${f.file}: not covered by ${sigName} (added or renamed after signing)`)
    else if (sha !== f.sha256) problems.push(`${f.file}: changed after signing`)
  }
  for (const f of listed) {
    if (!present.has(f.file)) problems.push(`${f.file}: signed, but missing (removed or renamed after signing)`)
  }
  return problems
}

const KEY_ID = /^ek_[0-9a-f]{16}$/
const SHA256 = /^[0-9a-f]{64}$/
/** 64 bytes in base64, nothing more: a truncated or padded signature is refused before it is tried. */
const ED25519_SIGNATURE = /^[A-Za-z0-9+/]{86}==$/

/** The signature in `text`, or why it is none. Closed: a field nobody signed is refused. */
export function parseSignature (text: string): PolicySignature | string {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return 'not a policy signature (not JSON)'
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a policy signature (not a JSON object)'
  const s = v as Record<string, unknown>
  const extra = Object.keys(s).filter((k) => !['format', 'key_id', 'signed_at', 'files', 'signature'].includes(k))
  if (s.format !== SIGNATURE_FORMAT) return `not a policy signature (format is not ${SIGNATURE_FORMAT})`
  if (extra.length > 0) return `unknown field(s) ${extra.join(', ')}`
  if (typeof s.key_id !== 'string' || !KEY_ID.test(s.key_id)) return 'key_id is not a key id (ek_ and 16 hex digits)'
  if (typeof s.signed_at !== 'string' || Number.isNaN(Date.parse(s.signed_at))) return 'signed_at is not a time'
  if (typeof s.signature !== 'string' || !ED25519_SIGNATURE.test(s.signature)) return 'signature is not a base64 Ed25519 signature'
  if (!Array.isArray(s.files) || !s.files.every(isSignedFile)) return 'files is not a list of {file, sha256}'
  const names = new Set(s.files.map((f) => f.file))
  if (names.size !== s.files.length) return 'files names a file twice'
  return s as unknown as PolicySignature
}

function isSignedFile (f: unknown): f is SignedFile {
  if (typeof f !== 'object' || f === null) return false
  const o = f as Record<string, unknown>
  return Object.keys(o).length === 2 && typeof o.file === 'string' && typeof o.sha256 === 'string' && SHA256.test(o.sha256)
}
