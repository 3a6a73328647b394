/**
 * Session grants: a reviewer pre-authorizes a class of action for one session, for a while and
 * a number of uses. Creation and revocation are records in the tenant's log; each use is
 * recorded by the check that spends it (on-check.ts).
 */
import type { AuditEntry } from '../audit/chain.js'
import { actorOf, type Principal } from '../auth/principal.js'
import type { Clock, IdGenerator } from '../clock.js'
import { errorFor } from '../errors/index.js'
import type { AuditWriter } from '../ledger/writer.js'
import type { Database } from '../store/db.js'
import { getGrant, insertGrant, lockGrant, listGrants, revokeGrant, type GrantFilter, type GrantMatch, type GrantRow } from '../store/grants.js'
import { grantView } from './view.js'

export interface GrantRequest {
  tenant_id: string
  session_id: string
  match: GrantMatch
  ttl_sec: number
  max_uses: number
  note: string
}

export class GrantService {
  constructor (private readonly deps: { db: Database, writer: AuditWriter, clock: Clock, ids: IdGenerator }) {}

  async create (by: Principal, req: GrantRequest, deadline: number): Promise<Record<string, unknown>> {
    const now = this.deps.clock.now()
    const actor = actorOf(by)
    const { result } = await this.deps.writer.transact(req.tenant_id, deadline, async (tx) => {
      const g = await insertGrant(tx, {
        grant_id: this.deps.ids.grantId(),
        tenant_id: req.tenant_id,
        session_id: req.session_id,
        match: req.match,
        note: req.note,
        created_by: actor,
        creator_principal: by.principalId,
        creator_key_id: by.keyId,
        creator_roles: [...by.roles],
        created_at: now,
        expires_at: new Date(now.getTime() + req.ttl_sec * 1000),
        max_uses: req.max_uses
      })
      return { entries: [grantEntry('grant.created', g, actor, now, { session_id: g.session_id, match: g.match, expires_at: g.expires_at.toISOString(), max_uses: g.max_uses, note: g.note })], result: g }
    })
    return grantView(result)
  }

  async list (f: GrantFilter, limit: number): Promise<GrantRow[]> {
    return await listGrants(this.deps.db, f, limit)
  }

  /**
   * Revokes a grant of a tenant `visible` says the caller may see (anything else is not found);
   * revoking a revoked grant answers it as it is.
   */
  async revoke (by: Principal, grantId: string, visible: (tenantId: string) => boolean, deadline: number): Promise<Record<string, unknown>> {
    const found = await getGrant(this.deps.db, grantId)
    if (found === undefined || !visible(found.tenant_id)) throw errorFor('noGrant', grantId)
    const now = this.deps.clock.now()
    const actor = actorOf(by)
    const { result } = await this.deps.writer.transact(found.tenant_id, deadline, async (tx) => {
      const current = await lockGrant(tx, grantId) as GrantRow
      if (current.revoked_at !== null) return { entries: [], result: current }
      const g = await revokeGrant(tx, grantId, actor, now) as GrantRow
      return { entries: [grantEntry('grant.revoked', g, actor, now, { uses: g.uses })], result: g }
    })
    return grantView(result)
  }
}

/** Grants are not a job's: their records go under a trace of their own, `grant:<id>`. */
function grantEntry (type: AuditEntry['type'], g: GrantRow, actor: AuditEntry['actor'], at: Date, body: Record<string, unknown>): AuditEntry {
  return { type, tenant_id: g.tenant_id, trace_id: `grant:${g.grant_id}`, job_id: null, at: at.toISOString(), actor, body: { grant_id: g.grant_id, ...body } }
}
