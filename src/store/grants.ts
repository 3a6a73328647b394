/**
 * Queries on session grants. Changes run inside writer transactions of the tenant's log, so
 * each creation, use and revocation commits with its record.
 */
import type { Actor } from '../audit/chain.js'
import type { Queryable } from './db.js'

export interface GrantMatch {
  topics: string[]
  risk_tags?: string[]
  labels?: Record<string, string>
  principals?: string[]
}

export interface GrantRow {
  grant_id: string
  tenant_id: string
  session_id: string
  match: GrantMatch
  note: string
  created_by: Actor
  creator_principal: string
  creator_key_id: string | null
  creator_roles: string[]
  created_at: Date
  expires_at: Date
  max_uses: number
  uses: number
  revoked_at: Date | null
  revoked_by: Actor
}

export type NewGrant = Omit<GrantRow, 'uses' | 'revoked_at' | 'revoked_by'>

const COLUMNS = `grant_id, tenant_id, session_id, match, note, created_by, creator_principal, creator_key_id, creator_roles,
  created_at, expires_at, max_uses, uses, revoked_at, revoked_by`
const QUALIFIED = COLUMNS.split(',').map((c) => `g.${c.trim()}`).join(', ')

export async function insertGrant (q: Queryable, g: NewGrant): Promise<GrantRow> {
  const { rows } = await q.query<GrantRow>(
    `insert into grants (grant_id, tenant_id, session_id, match, note, created_by, creator_principal, creator_key_id, creator_roles, created_at, expires_at, max_uses)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning ${COLUMNS}`,
    [g.grant_id, g.tenant_id, g.session_id, JSON.stringify(g.match), g.note, JSON.stringify(g.created_by), g.creator_principal,
      g.creator_key_id, g.creator_roles, g.created_at, g.expires_at, g.max_uses]
  )
  return rows[0]
}

export async function lockGrant (q: Queryable, grantId: string): Promise<GrantRow | undefined> {
  const { rows } = await q.query<GrantRow>(`select ${COLUMNS} from grants where grant_id = $1 for update`, [grantId])
  return rows[0]
}

export async function getGrant (q: Queryable, grantId: string): Promise<GrantRow | undefined> {
  const { rows } = await q.query<GrantRow>(`select ${COLUMNS} from grants where grant_id = $1`, [grantId])
  return rows[0]
}

/**
 * Grants of a session that can still be used at `now`: not revoked, not run out, not used up,
 * and made with a person's key that is still valid (a service key's grant, made before key kinds
 * existed, stands in for no one's approval). Oldest first; row-locked for the caller.
 */
/**
 * The grants of a session that may still be used at `now`: not revoked, with time and uses left,
 * made by a person whose key stands. The arguments are the placeholders of tenant, session and time.
 */
export function usableGrants (tenant: string, session: string, now: string): string {
  return `grants g join api_keys k on k.key_id = g.creator_key_id
     where g.tenant_id = ${tenant} and g.session_id = ${session} and g.revoked_at is null and g.expires_at > ${now} and g.uses < g.max_uses
       and k.revoked_at is null and k.kind = 'person'`
}

export async function lockUsableGrants (q: Queryable, tenantId: string, sessionId: string, now: Date): Promise<GrantRow[]> {
  const { rows } = await q.query<GrantRow>(
    `select ${QUALIFIED} from ${usableGrants('$1', '$2', '$3')}
     order by g.created_at, g.grant_id
     for update of g`,
    [tenantId, sessionId, now]
  )
  return rows
}

export async function useGrant (q: Queryable, grantId: string): Promise<number> {
  const { rows } = await q.query<{ uses: number }>('update grants set uses = uses + 1 where grant_id = $1 returning uses', [grantId])
  return rows[0].uses
}

export async function revokeGrant (q: Queryable, grantId: string, by: Actor, at: Date): Promise<GrantRow | undefined> {
  const { rows } = await q.query<GrantRow>(
    `update grants set revoked_at = $3, revoked_by = $2 where grant_id = $1 and revoked_at is null returning ${COLUMNS}`,
    [grantId, JSON.stringify(by), at]
  )
  return rows[0]
}

export interface GrantFilter {
  tenants?: readonly string[]
  tenantId?: string
  sessionId?: string
  /** Only grants still usable at this time. */
  liveAt?: Date
  afterId?: { createdAt: Date, grantId: string }
}

/** Grants by filter, oldest first. */
export async function listGrants (q: Queryable, f: GrantFilter, limit: number): Promise<GrantRow[]> {
  const { rows } = await q.query<GrantRow>(
    `select ${COLUMNS} from grants
     where ($1::text[] is null or tenant_id = any($1)) and ($2::text is null or tenant_id = $2) and ($3::text is null or session_id = $3)
       and ($4::timestamptz is null or (revoked_at is null and expires_at > $4 and uses < max_uses))
       and ($5::timestamptz is null or (created_at, grant_id) > ($5, $6::uuid))
     order by created_at, grant_id limit $7`,
    [f.tenants ?? null, f.tenantId ?? null, f.sessionId ?? null, f.liveAt ?? null, f.afterId?.createdAt ?? null, f.afterId?.grantId ?? null, limit]
  )
  return rows
}
