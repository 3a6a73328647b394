/**
 * Creating, listing and revoking bearer keys, for the /keys routes and the `arbiter keys` CLI.
 * Nobody can create, see or revoke a key that reaches further than their own (`mayGrant`); the
 * CLI works on the database directly and acts as the installation's operator (`by` null).
 * A key is a person's or a service's (`kind`, service unless asked); a service key cannot be a
 * reviewer, and only person keys vote or make grants (see isPerson).
 */
import { errorFor } from '../errors/index.js'
import { isPrintableId, NAME_PATTERN, nameSchema } from '../schemas/common.js'
import { countRootAdmins, getApiKey, insertApiKey, listApiKeys, revokeApiKey, withKeysLocked, type ApiKeyRow } from '../store/api-keys.js'
import type { Database, Queryable } from '../store/db.js'
import { DEFAULT_KEY_KIND, KEY_KINDS, ROLES, type KeyKind, type Role } from '../domain/roles.js'
import { ALL_TENANTS, ANY_AGENT, canonicalPrincipal, mayGrant, type Principal } from './principal.js'
import { generateToken } from './tokens.js'

export interface KeyRequest {
  principal_id: string
  roles: Role[]
  tenants: string[]
  agents?: string[]
  kind?: KeyKind
}

export interface KeyView {
  key_id: string
  principal_id: string
  roles: Role[]
  tenants: string[]
  agents: string[]
  kind: KeyKind
  created_at: string
  created_by: string
  revoked_at: string | null
  revoked_by: string | null
}

/** The operator at the command line: every scope is theirs to grant. */
export const OPERATOR = null

const TENANT = new RegExp(NAME_PATTERN)

export function keyView (row: ApiKeyRow): KeyView {
  return {
    key_id: row.key_id,
    principal_id: row.principal_id,
    roles: row.roles,
    tenants: row.tenants,
    agents: row.agents,
    kind: row.kind,
    created_at: new Date(row.created_at).toISOString(),
    created_by: row.created_by,
    revoked_at: row.revoked_at === null ? null : new Date(row.revoked_at).toISOString(),
    revoked_by: row.revoked_by
  }
}

/** The same rules the route's schema states, for callers (the CLI) that have no schema. */
export function keyRequestProblems (r: KeyRequest): string[] {
  const problems: string[] = []
  if (!isPrintableId(r.principal_id)) problems.push('principal_id must be 1-256 printable characters without spaces')
  if (r.roles.length === 0) problems.push('a key needs at least one role')
  for (const role of r.roles) if (!ROLES.includes(role)) problems.push(`unknown role ${role} (roles: ${ROLES.join(', ')})`)
  if (r.tenants.length === 0) problems.push(`a key needs a tenant scope: tenant ids, or ${ALL_TENANTS} for all`)
  if (r.tenants.includes(ALL_TENANTS) && r.tenants.length > 1) problems.push(`tenants: ${ALL_TENANTS} stands alone`)
  for (const t of r.tenants) if (t !== ALL_TENANTS && (t.length > nameSchema.maxLength || !TENANT.test(t))) problems.push(`tenant ${t} is not a tenant id`)
  const agents = r.agents ?? [ANY_AGENT]
  if (agents.length === 0) problems.push(`agents must name at least one glob (${ANY_AGENT} for any)`)
  for (const a of agents) if (!isPrintableId(a)) problems.push(`agent glob ${a} must be 1-256 printable characters`)
  const kind = r.kind ?? DEFAULT_KEY_KIND
  if (!KEY_KINDS.includes(kind)) problems.push(`unknown kind ${kind} (kinds: ${KEY_KINDS.join(', ')})`)
  // A reviewer's vote is a person's word: a key an agent or a pipeline holds cannot give it.
  else if (kind === 'service' && r.roles.includes('reviewer')) problems.push('a service key cannot hold the role reviewer: only a person reviews; make the key with kind person')
  return problems
}

function actorName (by: Principal | null): string {
  if (by === OPERATOR) return 'cli'
  return by.keyId ?? `${by.principalId} (auth disabled)`
}

/** Creates a key; the token is in the answer and nowhere else, ever. */
export async function createKey (db: Database, by: Principal | null, asked: KeyRequest): Promise<KeyView & { token: string }> {
  const problems = keyRequestProblems(asked)
  if (problems.length > 0) throw errorFor('invalidKeyRequest', problems)
  const scope = { tenants: asked.tenants, agents: asked.agents ?? [ANY_AGENT] }
  if (by !== OPERATOR && !mayGrant(by, scope)) throw errorFor('keyBeyondReach')
  const fresh = generateToken()
  const row = await withKeysLocked(db, async (tx) => {
    const principalId = await principalFor(tx, asked.principal_id)
    return await insertApiKey(tx, {
      keyId: fresh.keyId,
      tokenHash: fresh.hash,
      principalId,
      roles: [...new Set(asked.roles)],
      tenants: [...new Set(scope.tenants)],
      agents: [...new Set(scope.agents)],
      kind: asked.kind ?? DEFAULT_KEY_KIND,
      createdBy: actorName(by)
    })
  })
  return { ...keyView(row), token: fresh.token }
}

/**
 * The principal id a new key gets: the canonical form of the one asked for (see
 * canonicalPrincipal), or the exact spelling of a key made before ids were canonical. A request
 * that spells an existing person otherwise is refused: one person, one spelling.
 */
async function principalFor (tx: Queryable, asked: string): Promise<string> {
  const canonical = canonicalPrincipal(asked)
  const existing = new Set((await listApiKeys(tx, { includeRevoked: true })).map((k) => k.principal_id))
  if (existing.has(asked) || existing.has(canonical)) return existing.has(asked) ? asked : canonical
  const lookAlike = [...existing].find((p) => canonicalPrincipal(p) === canonical)
  if (lookAlike !== undefined) throw errorFor('lookAlikePrincipal', asked, lookAlike)
  if (!isPrintableId(canonical)) throw errorFor('invalidKeyRequest', ['principal_id must be 1-256 printable characters without spaces'])
  return canonical
}

/** The keys `by` could have created, oldest first. */
export async function listKeys (db: Database, by: Principal | null, includeRevoked: boolean): Promise<KeyView[]> {
  const rows = await listApiKeys(db, { includeRevoked })
  return rows.filter((r) => by === OPERATOR || mayGrant(by, r)).map(keyView)
}

/**
 * Revokes a key at once; revoking a revoked key answers it as it is. The last active admin key
 * with full reach cannot be revoked: that would lock every operator out.
 */
export async function revokeKey (db: Database, by: Principal | null, keyId: string): Promise<KeyView> {
  return await withKeysLocked(db, async (tx) => {
    const row = await getApiKey(tx, keyId)
    // Keys beyond the caller's reach look like keys that do not exist.
    if (row === undefined || (by !== OPERATOR && !mayGrant(by, row))) throw errorFor('noKey', keyId)
    if (row.revoked_at !== null) return keyView(row)
    const root = row.roles.includes('admin') && row.tenants.includes(ALL_TENANTS) && row.agents.includes(ANY_AGENT)
    if (root && await countRootAdmins(tx) <= 1) throw errorFor('lastAdminKey', keyId)
    return keyView(await revokeApiKey(tx, keyId, actorName(by)) as ApiKeyRow)
  })
}
