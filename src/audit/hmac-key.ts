/**
 * The per-install HMAC key that signs every record. Generated on first use into DATA_DIR with
 * mode 0600, or read from a file the operator names. The key id is derived from the key, so a
 * record names the key that signed it without revealing it.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'

export interface HmacKey {
  readonly id: string
  readonly secret: Buffer
  readonly path: string
  readonly created: boolean
}

export const HMAC_KEY_FILE = 'hmac.key'
/** Retired keys, kept so that the records they signed still verify. */
export const RETIRED_HMAC_KEYS_DIR = 'hmac-keys'

export function hmacKeyId (secret: Buffer): string {
  return `hk_${createHash('sha256').update(secret).digest('hex').slice(0, 16)}`
}

/** Reads the key at `keyFile`, or the one in `dataDir`, creating that one if it does not exist. */
export async function loadHmacKey (options: { dataDir: string, keyFile?: string }): Promise<HmacKey> {
  const file = options.keyFile ?? path.join(options.dataDir, HMAC_KEY_FILE)
  let created = false
  if (options.keyFile === undefined) {
    await mkdir(options.dataDir, { recursive: true, mode: 0o700 })
    try {
      // 'wx' fails if the file exists, so two processes starting together cannot both create one.
      await writeFile(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' })
      created = true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }
  const secret = await readKeyFile(file)
  return { id: hmacKeyId(secret), secret, path: file, created }
}

async function readKeyFile (file: string): Promise<Buffer> {
  const info = await stat(file)
  if ((info.mode & 0o077) !== 0) {
    throw new Error(`HMAC key file ${file} is readable by group or others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`)
  }
  const text = (await readFile(file, 'utf8')).trim()
  if (!/^[0-9a-f]{64,}$/i.test(text)) {
    throw new Error(`HMAC key file ${file} must hold at least 32 bytes as hex`)
  }
  return Buffer.from(text, 'hex')
}

/**
 * Every HMAC key a verifier may meet: the active one and the retired ones in
 * `DATA_DIR/hmac-keys/`, by key id.
 */
export async function loadHmacKeyring (options: { dataDir: string, keyFile?: string }): Promise<Map<string, Buffer>> {
  const ring = new Map<string, Buffer>()
  const dir = path.join(options.dataDir, RETIRED_HMAC_KEYS_DIR)
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return []; throw err })
  for (const name of names.filter((n) => n.endsWith('.key')).sort()) {
    const secret = await readKeyFile(path.join(dir, name))
    ring.set(hmacKeyId(secret), secret)
  }
  const active = await loadHmacKey(options)
  ring.set(active.id, active.secret)
  return ring
}
