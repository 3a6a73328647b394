/**
 * Who is calling, as derived from their key, and what that allows. Pure: no I/O.
 */
import { matchesLinear } from '../policy/glob.js'

import type { KeyKind, Role } from '../domain/roles.js'

/** A tenant scope of `['*']` covers every tenant, present and future. */
export const ALL_TENANTS = '*'
/** An agent scope of `['**']` lets a key speak for any job principal. */
export const ANY_AGENT = '**'

export interface Principal {
  /** The key the caller presented; null only when authentication is disabled. */
  keyId: string | null
  principalId: string
  roles: readonly Role[]
  tenants: readonly string[]
  agents: readonly string[]
  /** Who holds the key, as its row says: never what the caller claims. */
  kind: KeyKind
}

/**
 * The caller of every request while ARBITER_AUTH=disabled (loopback only). Anyone at all: not
 * a person, so it neither votes nor makes grants.
 */
export const UNAUTHENTICATED: Principal = Object.freeze({
  keyId: null,
  principalId: 'anonymous',
  roles: Object.freeze(['admin' as const]),
  tenants: Object.freeze([ALL_TENANTS]),
  agents: Object.freeze([ANY_AGENT]),
  kind: 'service'
})

/**
 * Whether a person holds the key: only a person votes on approvals or makes grants, whatever
 * the key's roles (`admin` holds every role, but an admin service key still may not).
 */
export function isPerson (p: Pick<Principal, 'kind'>): boolean {
  return p.kind === 'person'
}

/** `admin` holds every role. */
export function hasRole (p: Principal, allowed: readonly Role[]): boolean {
  return p.roles.includes('admin') || p.roles.some((r) => allowed.includes(r))
}

export function allTenants (p: Principal): boolean {
  return p.tenants.includes(ALL_TENANTS)
}

export function coversTenant (p: Principal, tenantId: string): boolean {
  return allTenants(p) || p.tenants.includes(tenantId)
}

/** The tenants a read may see: undefined means all of them. */
export function tenantFilter (p: Principal): readonly string[] | undefined {
  return allTenants(p) ? undefined : p.tenants
}

/** Whether the key may submit jobs that act for agent principal `agentId`. */
export function speaksFor (p: Principal, agentId: string): boolean {
  // The principal id is the caller's: matched in linear time whatever the glob (see glob.ts).
  return p.agents.some((a) => a === ANY_AGENT || matchesLinear(a, agentId))
}

/** Whether the key may act on a job for `agentId`; a job naming no agent needs a key for any. */
export function speaksForJob (p: Principal, agentId: string | null | undefined): boolean {
  return agentId === null || agentId === undefined ? p.agents.includes(ANY_AGENT) : speaksFor(p, agentId)
}

/**
 * Whether `p` may hand out a key scoped to `scope`: nobody can create a key that reaches
 * further than their own, in tenants or agents.
 */
export function mayGrant (p: Principal, scope: { tenants: readonly string[], agents: readonly string[] }): boolean {
  const tenantsOk = allTenants(p) || (!scope.tenants.includes(ALL_TENANTS) && scope.tenants.every((t) => p.tenants.includes(t)))
  const agentsOk = p.agents.includes(ANY_AGENT) || (!scope.agents.includes(ANY_AGENT) && scope.agents.every((a) => p.agents.includes(a)))
  return tenantsOk && agentsOk
}

/**
 * A principal id as keys hold it: NFKC-normalized and lower-cased, so `Alice`, `ALICE` and a
 * full-width `Ａｌｉｃｅ` are one person for separation of duties, as a reader would take them.
 */
export function canonicalPrincipal (id: string): string {
  return id.normalize('NFKC').toLowerCase()
}

/** Whether two principal ids name the same person (compared in canonical form). */
export function samePrincipal (a: string | null | undefined, b: string | null | undefined): boolean {
  return a !== null && a !== undefined && b !== null && b !== undefined && canonicalPrincipal(a) === canonicalPrincipal(b)
}

/** The actor a record names for this caller. */
export function actorOf (p: Principal): Record<string, string> {
  return p.keyId === null ? { principal_id: p.principalId, auth: 'disabled' } : { principal_id: p.principalId, key_id: p.keyId }
}
