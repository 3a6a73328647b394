/**
 * Approvals and grants over time. Every transition runs in a writer transaction of the tenant's
 * log: the log's transaction lock serializes it with every other change to that tenant's
 * approvals (on every instance), the approval's row lock guards it besides, and the records that
 * tell of it commit with it or not at all. So each approval reaches exactly one end, and the log
 * says which.
 */
import { performance } from 'node:perf_hooks'
import type { AuditEntry } from '../audit/chain.js'
import { actorOf, hasRole, speaksForJob, type Principal } from '../auth/principal.js'
import type { Clock, IdGenerator } from '../clock.js'
import { errorFor } from '../errors/index.js'
import { changeApproval, dueForExpiry, frontOfLine, getLatestApproval, insertFirstApprovals, insertVote, listVotes, lockLatestApproval, lockSessionApprovals, type ApprovalChange, type ApprovalRow, type NewApproval, type VoteRow } from '../store/approvals.js'
import type { AuditWriter } from '../ledger/writer.js'
import type { Database, Queryable } from '../store/db.js'
import { hasRunOut, isLive, voteRefusal } from './lifecycle.js'
import { decideWithApproval, type CheckContext, type CheckOutcome } from './on-check.js'
import { nextInLine } from './line.js'
import { approvalEntry, CLOCK_ACTOR, expire } from './records.js'
import { approvalSummary, approvalView, type ApprovalSummary, type ApprovalView } from './view.js'

/** Who reads any approval of their tenants; anyone else (a scheduler) only those of agents their key speaks for. */
const APPROVAL_READERS = ['reviewer', 'auditor'] as const

export interface VoteRequest {
  vote: 'APPROVE' | 'DENY'
  note?: string
  job_hash?: string
}

export class ApprovalService {
  constructor (private readonly deps: { db: Database, writer: AuditWriter, clock: Clock, ids: IdGenerator, maxPending: number }) {}

  /** What a check whose policy answer is REQUIRE_APPROVAL or DENY decides with (on-check.ts). */
  checkContext (c: Omit<CheckContext, 'maxPending' | 'ids'>): CheckContext {
    return { ...c, maxPending: this.deps.maxPending, ids: this.deps.ids }
  }

  /**
   * The first approvals of checks' jobs, opened in one statement where nothing stands in their
   * way (firstApproval in on-check.ts): a writer opening, the same function for every check.
   */
  readonly openFirst = async (tx: Queryable, rows: Array<NewApproval & { status: 'PENDING' }>): Promise<Array<ApprovalRow | undefined>> =>
    await insertFirstApprovals(tx, rows, this.deps.maxPending)

  /**
   * A check whose policy answer is REQUIRE_APPROVAL or DENY, in the caller's transaction of the
   * job's tenant log, given the approval openFirst opened for it if it did: see on-check.ts.
   */
  async onCheck (tx: Queryable, c: CheckContext, opened?: ApprovalRow): Promise<CheckOutcome> {
    return await decideWithApproval(tx, c, opened)
  }

  /**
   * The job's latest approval in full. A reader who is neither reviewer nor auditor (a
   * scheduler) sees only the approvals of agents its key speaks for; any other looks like none.
   */
  async get (tenantId: string, jobId: string, reader: Principal): Promise<ApprovalView> {
    const a = await getLatestApproval(this.deps.db, tenantId, jobId)
    if (a === undefined || (!hasRole(reader, APPROVAL_READERS) && !speaksForJob(reader, a.agent_principal))) throw errorFor('noApproval', jobId)
    const behind = a.status === 'QUEUED' && a.session_id !== null ? await frontOfLine(this.deps.db, tenantId, a.session_id) : undefined
    return approvalView(a, (await listVotes(this.deps.db, [a.approval_id])).get(a.approval_id) ?? [], behind)
  }

  /** A reviewer's vote; one deny ends the approval, the last needed approve grants it. */
  async vote (tenantId: string, jobId: string, voter: Principal, v: VoteRequest, deadline: number): Promise<ApprovalView> {
    const { result } = await this.deps.writer.transact<{ approval: ApprovalRow, votes?: VoteRow[], expired?: boolean }>(tenantId, deadline, async (tx) => {
      const now = this.deps.clock.now()
      const a = await this.latest(tx, tenantId, jobId)
      if (v.job_hash !== undefined && v.job_hash !== a.job_hash) {
        throw errorFor('staleJobHash', a.job_hash)
      }
      // Without authentication everyone is the same anonymous admin: nobody can be told apart
      // from the requester, so nobody votes.
      if (voter.keyId === null) throw errorFor('votesNeedAuth')
      const refusal = voteRefusal(a, voter)
      if (refusal !== null) throw errorFor('voteRefused', refusal)
      if (a.status !== 'PENDING') throw errorFor('approvalNotVoting', a.status)
      if (hasRunOut(a, now)) return await this.expireIn(tx, a, now, 'vote')
      const actor = actorOf(voter)
      if (!await insertVote(tx, a.approval_id, { principal_id: voter.principalId, key_id: voter.keyId, vote: v.vote, note: v.note ?? null, at: now })) {
        throw errorFor('alreadyVoted', voter.principalId)
      }
      const received = a.approvals_received + (v.vote === 'APPROVE' ? 1 : 0)
      let change: ApprovalChange = { status: 'PENDING', approvals_received: received }
      if (v.vote === 'DENY') {
        change = { status: 'DENIED', resolved_at: now, resolution: { by: actor, note: v.note } }
      } else if (received >= a.approvals_required) {
        const votes = (await listVotes(tx, [a.approval_id])).get(a.approval_id) ?? []
        const approvers = votes.filter((x) => x.vote === 'APPROVE').map((x) => x.principal_id)
        change = { ...change, status: 'APPROVED', approved_at: now, dispatch_by: new Date(now.getTime() + a.dispatch_window_sec * 1000), resolved_at: now, resolution: { approvers } }
      }
      const after = await this.change(tx, a, change)
      const entries = [approvalEntry('approval.vote', after, actor, now, { vote: v.vote, note: v.note ?? null, approvals_received: received })]
      if (after.status !== 'PENDING') entries.push(approvalEntry('approval.resolved', after, actor, now, { resolution: after.resolution }), ...await nextInLine(tx, a, now))
      // Read here, not after the commit: a failed read then would look like an unrecorded vote.
      const votes = (await listVotes(tx, [a.approval_id])).get(a.approval_id) ?? []
      return { entries, result: { approval: after, votes } }
    })
    if (result.expired === true) throw errorFor('approvalExpired')
    return approvalView(result.approval, result.votes ?? [])
  }

  /** The scheduler gives up on a job: its live approval ends CANCELLED. */
  async cancel (tenantId: string, jobId: string, caller: Principal, reason: string | undefined, deadline: number): Promise<ApprovalSummary> {
    const { result } = await this.deps.writer.transact(tenantId, deadline, async (tx) => {
      const now = this.deps.clock.now()
      const a = await this.latest(tx, tenantId, jobId)
      // An approval for an agent the key may not speak for looks like no approval at all.
      if (!speaksForJob(caller, a.agent_principal)) throw errorFor('noApproval', jobId)
      if (!isLive(a.status)) throw errorFor('approvalNotCancellable', a.status)
      if (hasRunOut(a, now)) return await this.expireIn(tx, a, now, 'cancel')
      const actor = actorOf(caller)
      const after = await this.change(tx, a, { status: 'CANCELLED', resolved_at: now, resolution: { by: actor, ...(reason === undefined ? {} : { reason }) } })
      return { entries: [approvalEntry('approval.cancelled', after, actor, now, { reason: reason ?? null }), ...await nextInLine(tx, a, now)], result: { approval: after, expired: false } }
    })
    if (result.expired === true) throw errorFor('approvalExpired')
    return approvalSummary(result.approval)
  }

  /**
   * The scheduler gives up on a session: every live approval of it (queued, pending or approved)
   * for an agent the key speaks for ends CANCELLED, the queued ones first so that none of them
   * takes a turn on the way. Those of agents the key may not speak for are left as they are
   * (and may take their turn). An empty list if there were none.
   */
  async cancelSession (tenantId: string, sessionId: string, caller: Principal, reason: string | undefined, deadline: number): Promise<ApprovalSummary[]> {
    const { result } = await this.deps.writer.transact(tenantId, deadline, async (tx) => {
      const now = this.deps.clock.now()
      const actor = actorOf(caller)
      const mine = (await lockSessionApprovals(tx, tenantId, sessionId)).filter((a) => speaksForJob(caller, a.agent_principal))
      const order = [...mine.filter((a) => a.status === 'QUEUED'), ...mine.filter((a) => a.status !== 'QUEUED')]
      const entries: AuditEntry[] = []
      const ended: ApprovalRow[] = []
      for (const a of order) {
        if (hasRunOut(a, now)) {
          const expired = await this.expireIn(tx, a, now, 'cancel')
          entries.push(...expired.entries)
          ended.push(expired.result.approval)
          continue
        }
        const after = await this.change(tx, a, { status: 'CANCELLED', resolved_at: now, resolution: { by: actor, session_cancelled: sessionId, ...(reason === undefined ? {} : { reason }) } })
        entries.push(approvalEntry('approval.cancelled', after, actor, now, { reason: reason ?? null, session_id: sessionId }), ...await nextInLine(tx, a, now))
        ended.push(after)
      }
      return { entries, result: ended }
    })
    return result.map((a) => approvalSummary(a))
  }

  /**
   * Ends every live approval whose clock ran out by now, each in its own transaction (checks
   * and votes end them too, as they find them). Returns how many it ended.
   */
  async sweep (deadlineMs: number, batch = 100): Promise<number> {
    const now = this.deps.clock.now()
    let ended = 0
    for (const due of await dueForExpiry(this.deps.db, now, batch)) {
      const { result } = await this.deps.writer.transact(due.tenant_id, performance.now() + deadlineMs, async (tx) => {
        const a = await lockLatestApproval(tx, due.tenant_id, due.job_id)
        if (a?.approval_id !== due.approval_id || !isLive(a.status) || !hasRunOut(a, now)) return { entries: [], result: false }
        const { entries } = await this.expireIn(tx, a, now, 'sweep')
        return { entries, result: true }
      })
      if (result) ended++
    }
    return ended
  }

  private async latest (tx: Queryable, tenantId: string, jobId: string): Promise<ApprovalRow> {
    const a = await lockLatestApproval(tx, tenantId, jobId)
    if (a === undefined) throw errorFor('noApproval', jobId)
    return a
  }

  private async change (tx: Queryable, a: ApprovalRow, c: ApprovalChange): Promise<ApprovalRow> {
    return await changeApproval(tx, a.approval_id, a.status, c) as ApprovalRow
  }

  private async expireIn (tx: Queryable, a: ApprovalRow, now: Date, noticedBy: string): Promise<{ entries: AuditEntry[], result: { approval: ApprovalRow, expired: true } }> {
    const after = await expire(tx, a, now)
    return { entries: [approvalEntry('approval.expired', after, CLOCK_ACTOR, now, { noticed_by: noticedBy, was: a.status }), ...await nextInLine(tx, a, now)], result: { approval: after, expired: true } }
  }
}
