/**
 * The reviewer's queue as the console shows it: pending approvals of the caller's tenants,
 * oldest first, filtered, each with whether it waits for the caller's vote (and if the caller
 * may not vote, why), and a version that changes whenever what the caller sees changes.
 */
import { createHash } from 'node:crypto'
import { voteRefusal } from '../approvals/lifecycle.js'
import { approvalView, type ApprovalView } from '../approvals/view.js'
import { hasRole, samePrincipal, type Principal } from '../auth/principal.js'
import type { ApprovalRow, VoteRow } from '../store/approvals.js'

export interface QueueFilter {
  tenant_id?: string
  topic?: string
  rule_id?: string
  risk_tag?: string
  awaiting_my_vote?: 'true' | 'false'
}

export interface ForMe {
  awaiting_my_vote: boolean
  vote_refusal: string | null
}

export interface QueueItem extends ForMe {
  approval: ApprovalView
}

/** Why `me` may not vote on `a` now (roles, people only, separation of duties, a vote already cast), or null. */
export function myVoteRefusal (a: ApprovalRow, votes: readonly VoteRow[], me: Principal): string | null {
  if (me.keyId === null) return 'approvals cannot be resolved while ARBITER_AUTH=disabled'
  if (!hasRole(me, ['reviewer'])) return `${me.principalId} reads approvals but does not vote: voting needs the role reviewer`
  const refusal = voteRefusal(a, me)
  if (refusal !== null) return refusal
  const mine = votes.find((v) => samePrincipal(v.principal_id, me.principalId))
  if (mine !== undefined) return `${me.principalId} already voted ${mine.vote} on this approval`
  return null
}

/** What `me` may do about `a`. */
export function forMe (a: ApprovalRow, votes: readonly VoteRow[], me: Principal): ForMe {
  const refusal = myVoteRefusal(a, votes, me)
  return { awaiting_my_vote: refusal === null && a.status === 'PENDING', vote_refusal: refusal }
}

function declaredTags (a: ApprovalRow): string[] {
  const tags = (JSON.parse(a.job) as { risk_tags?: unknown }).risk_tags
  return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : []
}

/** The queue's items, filtered; `rows` are pending approvals, oldest first. */
export function queueItems (rows: readonly ApprovalRow[], votes: ReadonlyMap<string, VoteRow[]>, me: Principal, f: QueueFilter): QueueItem[] {
  const items: QueueItem[] = []
  for (const a of rows) {
    // Single-flight approvals that wait behind another (QUEUED) are nobody's to judge yet.
    if (a.status !== 'PENDING') continue
    if (f.rule_id !== undefined && a.rule_id !== f.rule_id) continue
    if (f.risk_tag !== undefined && !declaredTags(a).includes(f.risk_tag)) continue
    const v = votes.get(a.approval_id) ?? []
    const mine = forMe(a, v, me)
    if (f.awaiting_my_vote === 'true' && !mine.awaiting_my_vote) continue
    items.push({ approval: approvalView(a, v), ...mine })
  }
  return items
}

/** A short digest of everything the caller sees of the queue: equal versions, equal queues. */
export function queueVersion (items: readonly QueueItem[]): string {
  const h = createHash('sha256')
  for (const i of items) {
    const a = i.approval
    h.update(`${a.approval_id}|${a.status}|${a.approvals_received}|${(a.votes as unknown[]).length}|${String(a.expires_at)}|${i.vote_refusal ?? ''}\n`)
  }
  return h.digest('hex').slice(0, 16)
}
