/**
 * Schedulers waiting for an approval to be decided (`GET /approvals/:job_id?wait_sec=N`). A vote
 * may land on any instance, so each instance runs one poller that, while anyone waits, reads the
 * status of every approval waited on in one query a tick, and releases the waiters of each that
 * left PENDING or ran out of time. A vote or cancel on this instance releases its waiters at
 * once. Waiting reads and never writes: no record, no lock, no connection held.
 */
import type { Clock } from '../clock.js'
import { errorFor } from '../errors/index.js'
import { approvalStatuses } from '../store/approvals.js'
import type { Queryable } from '../store/db.js'
import { hasRunOut } from './lifecycle.js'
import type { ApprovalSummary } from './view.js'

/** How a wait ended: the approval moved on (or ran out), the time was up, the caller left, or the instance is closing. */
export type WaitEnd = 'changed' | 'timeout' | 'aborted' | 'closed'

export const DEFAULT_POLL_MS = 250
export const DEFAULT_MAX_WAITERS = 10_000

export interface WaitersOptions {
  db: Queryable
  clock: Clock
  pollMs?: number
  /** Waiters held at once on this instance; one more is refused (429 ARBITER_ERR_BUSY). */
  maxWaiters?: number
  /** A failed poll: the waiters keep waiting, and the next tick asks again. */
  onPollError?: (err: unknown) => void
}

type Waited = Pick<ApprovalSummary, 'approval_id' | 'status' | 'expires_at'>

interface Waiter {
  /** The state the wait ends when the approval leaves: PENDING, or QUEUED (its turn comes). */
  status: Waited['status']
  expiresAt: Date
  settle: (end: WaitEnd) => void
}

/** The end of time, for a queued approval: it has no clock until its turn. */
const NEVER = new Date(8.64e15)

/**
 * Whether a wait on this approval could end in anything but a timeout: it is pending and its TTL
 * has not run out, or it is queued for its turn.
 */
export function awaitsDecision (a: Waited, now: Date): boolean {
  if (a.status === 'QUEUED') return true
  return a.status === 'PENDING' && a.expires_at !== null && !hasRunOut({ status: 'PENDING', expires_at: new Date(a.expires_at), dispatch_by: null }, now)
}

export class ApprovalWaiters {
  readonly #byApproval = new Map<string, Set<Waiter>>()
  readonly #pollMs: number
  readonly #maxWaiters: number
  #count = 0
  #timer: NodeJS.Timeout | undefined
  #polling = false
  #closed = false

  constructor (private readonly deps: WaitersOptions) {
    this.#pollMs = deps.pollMs ?? DEFAULT_POLL_MS
    this.#maxWaiters = deps.maxWaiters ?? DEFAULT_MAX_WAITERS
  }

  /** Waiters held now. */
  get size (): number {
    return this.#count
  }

  /**
   * Waits until approval `a` (as just read: queued, or pending and not run out) leaves that state or runs out,
   * `timeoutMs` passes, `signal` aborts, or the instance closes. Never rejects; throws at once
   * (`ARBITER_ERR_BUSY`) when this instance already holds its most waiters.
   */
  async wait (a: Waited, timeoutMs: number, signal?: AbortSignal): Promise<WaitEnd> {
    if (this.#closed) return 'closed'
    if (signal?.aborted === true) return 'aborted'
    if (this.#count >= this.#maxWaiters) throw errorFor('tooManyWaiters', this.#maxWaiters)
    return await new Promise<WaitEnd>((resolve) => {
      const settle = (end: WaitEnd): void => {
        if (!this.#remove(a.approval_id, waiter)) return
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        resolve(end)
      }
      const waiter: Waiter = { status: a.status, expiresAt: a.status === 'QUEUED' ? NEVER : new Date(a.expires_at ?? 0), settle }
      const onAbort = (): void => { settle('aborted') }
      const timer = setTimeout(() => { settle('timeout') }, timeoutMs)
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#add(a.approval_id, waiter)
    })
  }

  /** This instance just moved `approvalId` on (a vote or a cancel): its waiters need not wait for the next poll. */
  moved (approvalId: string): void {
    for (const w of [...this.#byApproval.get(approvalId) ?? []]) w.settle('changed')
  }

  /** Releases every waiter (`closed`), so that a closing instance answers them now; later waits end at once. */
  close (): void {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    for (const set of [...this.#byApproval.values()]) for (const w of [...set]) w.settle('closed')
  }

  #add (approvalId: string, w: Waiter): void {
    const set = this.#byApproval.get(approvalId) ?? new Set()
    set.add(w)
    this.#byApproval.set(approvalId, set)
    this.#count++
    this.#schedule()
  }

  /** False if the waiter was already gone (settled before). */
  #remove (approvalId: string, w: Waiter): boolean {
    const set = this.#byApproval.get(approvalId)
    if (set?.delete(w) !== true) return false
    if (set.size === 0) this.#byApproval.delete(approvalId)
    this.#count--
    return true
  }

  /** One tick at a time, and none while nobody waits. */
  #schedule (): void {
    if (this.#closed || this.#polling || this.#timer !== undefined || this.#count === 0) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#polling = true
      this.#poll().finally(() => {
        this.#polling = false
        this.#schedule()
      })
    }, this.#pollMs)
  }

  async #poll (): Promise<void> {
    const ids = [...this.#byApproval.keys()]
    if (ids.length === 0) return
    let statuses: Map<string, string> | undefined
    try {
      statuses = await approvalStatuses(this.deps.db, ids)
    } catch (err) {
      this.deps.onPollError?.(err)
    }
    const now = this.deps.clock.now()
    for (const id of ids) {
      // An approval that left the state waited on (or has no row any more) releases its waiters.
      for (const w of [...this.#byApproval.get(id) ?? []]) {
        const gone = statuses !== undefined && statuses.get(id) !== w.status
        if (gone || now.getTime() >= w.expiresAt.getTime()) w.settle('changed')
      }
    }
  }
}
