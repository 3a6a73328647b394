/**
 * The Ed25519 key that signs checkpoints: generated on first use into DATA_DIR with mode 0600
 * (like the HMAC key), or read from a file the operator names. Its id is derived from the
 * public key, so anyone can match a checkpoint to a published key.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { CheckpointKey } from './checkpoint.js'

export const CHECKPOINT_KEY_FILE = 'ed25519.key'

export function publicKeyPem (key: CheckpointKey): string {
  return key.publicKey.export({ type: 'spki', format: 'pem' }).toString()
}

export function checkpointKeyId (publicKeyDer: Buffer): string {
  return `ek_${createHash('sha256').update(publicKeyDer).digest('hex').slice(0, 16)}`
}

/** Reads the checkpoint key, creating it in `dataDir` if no file is named and none exists. */
export async function loadCheckpointKey (options: { dataDir: string, keyFile?: string }): Promise<CheckpointKey & { path: string, created: boolean }> {
  const file = options.keyFile ?? path.join(options.dataDir, CHECKPOINT_KEY_FILE)
  let created = false
  if (options.keyFile === undefined) {
    await mkdir(options.dataDir, { recursive: true, mode: 0o700 })
    const { privateKey } = generateKeyPairSync('ed25519')
    try {
      await writeFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' })
      created = true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }
  const info = await stat(file)
  if ((info.mode & 0o077) !== 0) {
    throw new Error(`checkpoint key file ${file} is readable by group or others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`)
  }
  const privateKey = createPrivateKey(await readFile(file, 'utf8'))
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`checkpoint key file ${file} must hold an Ed25519 private key`)
  const publicKey = createPublicKey(privateKey)
  const id = checkpointKeyId(publicKey.export({ type: 'spki', format: 'der' }))
  return { id, privateKey, publicKey, path: file, created }
}
