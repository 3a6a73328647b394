/**
 * The public keys a policy may be signed with (POLICY_TRUSTED_KEYS): files of PEM `PUBLIC KEY`
 * blocks, read once at start. A file that holds none, holds a private key, or a key other than
 * Ed25519 stops the start: a typo must not quietly turn signing off or lock every policy out.
 */
import { createPublicKey, type KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { ConfigError } from '../config.js'
import { policyKeyId, type TrustedKeys } from './signature.js'

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g

/** The keys in `files` by key id; undefined when no file is named (signatures are not required). */
export async function loadTrustedKeys (files: readonly string[]): Promise<TrustedKeys | undefined> {
  if (files.length === 0) return undefined
  const keys = new Map<string, KeyObject>()
  const problems: string[] = []
  for (const file of files) {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      problems.push(`POLICY_TRUSTED_KEYS: ${file}: ${(err as Error).message}`)
      continue
    }
    const found = publicKeysIn(text)
    if (typeof found === 'string') problems.push(`POLICY_TRUSTED_KEYS: ${file}: ${found}`)
    else for (const key of found) keys.set(policyKeyId(key), key)
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return keys
}

/** The Ed25519 public keys in a PEM text, or why it holds none that can be trusted. */
export function publicKeysIn (text: string): KeyObject[] | string {
  const keys: KeyObject[] = []
  for (const [block, label] of text.matchAll(PEM_BLOCK)) {
    if (label !== 'PUBLIC KEY') {
      return label.includes('PRIVATE') ? 'holds a private key; give only the public key (`arbiter policy public-key --key FILE` prints it)' : `holds a PEM ${label}, not a PUBLIC KEY`
    }
    let key: KeyObject
    try {
      key = createPublicKey(block)
    } catch (err) {
      return `a PUBLIC KEY block does not parse (${(err as Error).message})`
    }
    if (key.asymmetricKeyType !== 'ed25519') return `holds a ${String(key.asymmetricKeyType)} key; policy signing keys are Ed25519`
    keys.push(key)
  }
  return keys.length > 0 ? keys : 'holds no PEM PUBLIC KEY block'
}
