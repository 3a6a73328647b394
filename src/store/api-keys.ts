/**
 * The api_keys table: bearer keys by id, their scope and their revocation. Rows are never
 * deleted and a revocation is final (the migration's trigger enforces both).
 */
import type { KeyKind, Role } from '../domain/roles.js'
import type { Database, Queryable } from './db.js'

export interface ApiKeyRow {
  key_id: string
  token_hash: string
  principal_id: string
  roles: Role[]
  tenants: string[]
  agents: string[]
  kind: KeyKind
  created_at: Date | string
  created_by: string
  revoked_at: Date | string | null
  revoked_by: string | null
}

export interface NewApiKey {
  keyId: string
  tokenHash: string
  principalId: string
  roles: readonly Role[]
  tenants: readonly string[]
  agents: readonly string[]
  kind: KeyKind
  createdBy: string
}

const COLUMNS = 'key_id, token_hash, principal_id, roles, tenants, agents, kind, created_at, created_by, revoked_at, revoked_by'

export async function insertApiKey (q: Queryable, k: NewApiKey): Promise<ApiKeyRow> {
  const { rows } = await q.query<ApiKeyRow>(
    `insert into api_keys (key_id, token_hash, principal_id, roles, tenants, agents, kind, created_by)
     values ($1, $2, $3, $4, $5, $6, $7, $8) returning ${COLUMNS}`,
    [k.keyId, k.tokenHash, k.principalId, k.roles, k.tenants, k.agents, k.kind, k.createdBy])
  return rows[0]
}

/** The key with this id, revoked or not. */
export async function getApiKey (q: Queryable, keyId: string): Promise<ApiKeyRow | undefined> {
  const { rows } = await q.query<ApiKeyRow>(`select ${COLUMNS} from api_keys where key_id = $1`, [keyId])
  return rows[0]
}

/** The keys with these ids, revoked or not: the hot path of every authenticated request. */
export async function getApiKeys (q: Queryable, keyIds: readonly string[]): Promise<ApiKeyRow[]> {
  const { rows } = await q.query<ApiKeyRow>(`select ${COLUMNS} from api_keys where key_id = any($1)`, [keyIds], 'api-keys-by-id')
  return rows
}

export async function listApiKeys (q: Queryable, options: { includeRevoked: boolean }): Promise<ApiKeyRow[]> {
  const { rows } = await q.query<ApiKeyRow>(
    `select ${COLUMNS} from api_keys where $1 or revoked_at is null order by created_at, key_id`, [options.includeRevoked])
  return rows
}

/** Marks a key revoked; returns the row, or undefined if it was already revoked. */
export async function revokeApiKey (q: Queryable, keyId: string, by: string): Promise<ApiKeyRow | undefined> {
  const { rows } = await q.query<ApiKeyRow>(
    `update api_keys set revoked_at = now(), revoked_by = $2 where key_id = $1 and revoked_at is null returning ${COLUMNS}`, [keyId, by])
  return rows[0]
}

/** Active admin keys that reach every tenant and agent: the keys that can recover everything else. */
export async function countRootAdmins (q: Queryable): Promise<number> {
  const { rows } = await q.query<{ n: number }>(
    "select count(*)::int as n from api_keys where revoked_at is null and 'admin' = any(roles) and '*' = any(tenants) and '**' = any(agents)")
  return rows[0].n
}

/** Runs `fn` with every other key change on this database held off (creation, revocation, bootstrap). */
export async function withKeysLocked<T> (db: Database, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return await db.transaction(async (tx) => {
    await tx.query("select pg_advisory_xact_lock(hashtext('arbiter.api_keys.' || current_schema()))")
    return await fn(tx)
  })
}
