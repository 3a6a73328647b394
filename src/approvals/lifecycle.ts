/**
 * The rules of an approval's life, without I/O: what a re-check of a job finds, who may vote,
 * when a clock has run out, and which grant covers a job. The service applies them under locks.
 */
import { hasRole, isPerson, samePrincipal, type Principal } from '../auth/principal.js'
import type { ApprovalStatus } from '../domain/approval-status.js'
import type { Role } from '../domain/roles.js'
import { compileGlob, globMatches } from '../policy/glob.js'
import type { ApprovalRequirement, Job } from '../policy/types.js'
import type { ApprovalRow } from '../store/approvals.js'
import type { GrantMatch, GrantRow } from '../store/grants.js'

export const LIVE_STATUSES: readonly ApprovalStatus[] = ['QUEUED', 'PENDING', 'APPROVED']

export function isLive (status: ApprovalStatus): boolean {
  return LIVE_STATUSES.includes(status)
}

/**
 * Whether a live approval's clock has run out: its TTL while pending, its dispatch window once
 * approved. A queued one has no clock yet: it starts at its turn.
 */
export function hasRunOut (a: Pick<ApprovalRow, 'status' | 'expires_at' | 'dispatch_by'>, now: Date): boolean {
  if (a.status === 'PENDING') return now.getTime() >= new Date(a.expires_at).getTime()
  if (a.status === 'APPROVED') return a.dispatch_by !== null && now.getTime() >= new Date(a.dispatch_by).getTime()
  return false
}

/** What a check that needs approval does with the job's latest approval. */
export type Recheck =
  /**
   * Nothing covers this job (none yet, a consumed one, one for other content, or one given under
   * a policy that now asks for other approvers): a new approval is requested.
   */
  | { kind: 'request', supersede?: ApprovalRow, invalidate?: ApprovalRow }
  /** Waiting for reviewers, or (QUEUED) for its turn in front of them. */
  | { kind: 'pending', approval: ApprovalRow }
  | { kind: 'expire', approval: ApprovalRow }
  | { kind: 'consume', approval: ApprovalRow }
  /** A final answer for this exact job: denied, expired, cancelled or invalidated. */
  | { kind: 'refused', approval: ApprovalRow, reason: string }

export function recheck (latest: ApprovalRow | undefined, jobHash: string, need: ApprovalRequirement, now: Date): Recheck {
  if (latest === undefined) return { kind: 'request' }
  if (latest.job_hash !== jobHash) {
    // The job changed: its old approval covers something else now.
    return isLive(latest.status) ? { kind: 'request', supersede: latest } : { kind: 'request' }
  }
  if (isLive(latest.status) && !hasRunOut(latest, now) && !satisfies(latest, need)) return { kind: 'request', invalidate: latest }
  switch (latest.status) {
    case 'QUEUED':
      return { kind: 'pending', approval: latest }
    case 'PENDING':
      return hasRunOut(latest, now) ? { kind: 'expire', approval: latest } : { kind: 'pending', approval: latest }
    case 'APPROVED':
      return hasRunOut(latest, now) ? { kind: 'expire', approval: latest } : { kind: 'consume', approval: latest }
    // An approval covers one dispatch: running the job again needs a new one.
    case 'CONSUMED':
    case 'SUPERSEDED':
      return { kind: 'request' }
    // Invalidated because the policy asks for other approvers: a new request, not a refusal
    // (there may have been no room for one when it was invalidated).
    case 'INVALIDATED':
      return latest.resolution?.requirement_changed === true ? { kind: 'request' } : { kind: 'refused', approval: latest, reason: refusalReason(latest) }
    default:
      return { kind: 'refused', approval: latest, reason: refusalReason(latest) }
  }
}

/** Whether an approval asked for at least what the policy asks for now: as many approvers, the same roles. */
function satisfies (a: Pick<ApprovalRow, 'approvals_required' | 'approver_roles'>, need: ApprovalRequirement): boolean {
  return a.approvals_required >= need.approvers && JSON.stringify(a.approver_roles) === JSON.stringify(need.roles)
}

/** Why a job whose approval ended this way is denied. */
export function refusalReason (a: Pick<ApprovalRow, 'status' | 'resolution'>): string {
  const why = typeof a.resolution?.reason === 'string' ? a.resolution.reason : undefined
  switch (a.status) {
    case 'DENIED':
      return `approval denied: ${typeof a.resolution?.note === 'string' ? a.resolution.note : 'no note'}`
    case 'EXPIRED':
      return 'approval expired'
    case 'CANCELLED':
      return why === undefined ? 'approval cancelled' : `approval cancelled: ${why}`
    default:
      return why ?? `approval ${a.status.toLowerCase()}`
  }
}

/**
 * Why `voter` may not vote on `a`, or null if they may: a person's key only (an admin service
 * key included), separation of duties (neither the key's principal that asked nor the agent the
 * job acts for), and every role set the rules ask for.
 */
export function voteRefusal (a: Pick<ApprovalRow, 'requester_principal' | 'agent_principal' | 'approver_roles'>, voter: Principal): string | null {
  if (!isPerson(voter)) return `${voter.principalId} votes with a service key: only a person's key (kind person) may resolve approvals, whatever its roles`
  if (samePrincipal(voter.principalId, a.requester_principal)) return `${voter.principalId} requested this approval and may not resolve it`
  if (samePrincipal(voter.principalId, a.agent_principal)) return `${voter.principalId} is the agent this job acts for and may not resolve it`
  const missing = a.approver_roles.find((set) => !hasRole(voter, set as Role[]))
  if (missing !== undefined) return `resolving this approval needs the role ${missing.join(' or ')}`
  return null
}

/** Whether a grant's match covers the job: topic globs, and no tag, label or agent beyond it. */
export function grantCovers (match: GrantMatch, job: Job): boolean {
  if (!match.topics.some((t) => globMatches(compileGlob(t), job.topic))) return false
  // Every tag the job carries must be one the grant names: a grant for [prod] is not one for [prod, pii].
  const tags = new Set(match.risk_tags ?? [])
  if (!job.risk_tags.every((t) => tags.has(t))) return false
  for (const [k, v] of Object.entries(match.labels ?? {})) if (job.labels?.[k] !== v) return false
  if (match.principals !== undefined) {
    const agent = job.principal_id
    if (agent === undefined || !match.principals.some((p) => globMatches(compileGlob(p), agent))) return false
  }
  return true
}

/**
 * Whether a usable grant stands in for the approval this job needs: it covers the job, one
 * approver would do, its creator holds the roles an approver needs, and its creator is neither
 * the one asking nor the agent the job acts for.
 */
export function grantApplies (g: GrantRow, job: Job, need: ApprovalRequirement, requester: Principal): boolean {
  if (need.approvers !== 1) return false
  if (samePrincipal(g.creator_principal, requester.principalId) || samePrincipal(g.creator_principal, job.principal_id)) return false
  const creator = { roles: g.creator_roles as Role[] }
  if (!need.roles.every((set) => creator.roles.includes('admin') || set.some((r) => creator.roles.includes(r)))) return false
  return grantCovers(g.match, job)
}
