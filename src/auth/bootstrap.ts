/**
 * The first admin key. A fresh install must be protected yet usable within a minute: when no
 * active unrestricted admin key exists, one is created and its token written to
 * DATA_DIR/admin.token (mode 0600), or the operator supplies the token in ARBITER_ADMIN_TOKEN.
 * The token itself is never logged.
 */
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { getApiKey, insertApiKey, countRootAdmins, withKeysLocked } from '../store/api-keys.js'
import type { Database } from '../store/db.js'
import { ALL_TENANTS, ANY_AGENT } from './principal.js'
import { generateToken, hashesMatch, identifyToken, isTokenShaped, MIN_TOKEN_LENGTH } from './tokens.js'

export const ADMIN_TOKEN_FILE = 'admin.token'
const ADMIN_PRINCIPAL = 'admin'

export type BootstrapOutcome =
  | { kind: 'existing' }
  | { kind: 'from-env', keyId: string, created: boolean }
  /** The operator's token names a revoked key: nothing is created (a revocation is final). */
  | { kind: 'env-revoked', keyId: string }
  | { kind: 'generated', keyId: string, path: string }

export async function ensureAdminKey (db: Database, options: { dataDir: string, envToken?: string }): Promise<BootstrapOutcome> {
  return await withKeysLocked(db, async (tx) => {
    if (options.envToken !== undefined) {
      const token = options.envToken
      if (!isTokenShaped(token)) throw new Error(`ARBITER_ADMIN_TOKEN must be at least ${MIN_TOKEN_LENGTH} printable characters without spaces (256 random bits, e.g. \`openssl rand -base64 32\`)`)
      const id = identifyToken(token)
      const row = await getApiKey(tx, id.keyId)
      if (row !== undefined) {
        if (!hashesMatch(id.hash, row.token_hash)) throw new Error('ARBITER_ADMIN_TOKEN collides with another key; choose another token')
        if (row.revoked_at !== null) return { kind: 'env-revoked', keyId: id.keyId }
        return { kind: 'from-env', keyId: id.keyId, created: false }
      }
      await insertApiKey(tx, rootAdmin(id.keyId, id.hash, 'bootstrap:ARBITER_ADMIN_TOKEN'))
      return { kind: 'from-env', keyId: id.keyId, created: true }
    }
    if (await countRootAdmins(tx) > 0) return { kind: 'existing' }
    const fresh = generateToken()
    await insertApiKey(tx, rootAdmin(fresh.keyId, fresh.hash, `bootstrap:${ADMIN_TOKEN_FILE}`))
    // Written before the commit: if the write fails, no key exists that nobody can use.
    const file = await writeTokenFile(options.dataDir, fresh.token)
    return { kind: 'generated', keyId: fresh.keyId, path: file }
  })
}

// A service key: it administers (makes the reviewers' person keys, among others), but held by
// whatever can read admin.token or the environment, it never votes or makes grants.
function rootAdmin (keyId: string, tokenHash: string, createdBy: string): Parameters<typeof insertApiKey>[1] {
  return { keyId, tokenHash, principalId: ADMIN_PRINCIPAL, roles: ['admin'], tenants: [ALL_TENANTS], agents: [ANY_AGENT], kind: 'service', createdBy }
}

/** Replaces DATA_DIR/admin.token atomically, never readable by group or others. */
async function writeTokenFile (dataDir: string, token: string): Promise<string> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const file = path.join(dataDir, ADMIN_TOKEN_FILE)
  // A fresh name opened exclusively ('wx'): never a file or symlink someone placed there.
  const tmp = `${file}.${randomBytes(8).toString('hex')}.tmp`
  await writeFile(tmp, token + '\n', { mode: 0o600, flag: 'wx' })
  // The mode given to writeFile is masked by the umask; chmod is not.
  await chmod(tmp, 0o600)
  await rename(tmp, file)
  return file
}
