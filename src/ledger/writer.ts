/**
 * The one writer of the tenant audit logs, with group commit. Appends queue per tenant; each
 * tenant's queue drains on its own, committing up to `maxBatch` records at a time under the
 * log's head-row lock, so sequence numbers are gapless, the chain never forks (across
 * instances too), durability costs one commit per group, and tenants do not wait for each other.
 *
 * How the queue is cut into groups: grouping.ts; how they are sealed ahead: sealing.ts;
 * committed: commit.ts; led by a transaction: transaction.ts; resolved when a commit's answer is
 * lost: recovery.ts; settled: group.ts.
 */
import { performance } from 'node:perf_hooks'
import type { AuditEntry, HmacSigningKey, SealedRecord } from '../audit/chain.js'
import { errorFor } from '../errors/index.js'
import type { Database, Queryable } from '../store/db.js'
import { commit } from './commit.js'
import type { Opening, Pending, PendingOpening, WriterContext, WriterOptions, WriterStats } from './context.js'
import { settle } from './group.js'
import { groupStart, takeGroup } from './grouping.js'
import { Lane, signal } from './lane.js'
import { predict } from './sealing.js'

/**
 * Runs inside a transaction of one log, under its transaction lock: throwing undoes what it did
 * and rejects the call; the entries it returns (of that log) are appended and commit with
 * whatever else it changed.
 */
export type { Opening, WriterOptions, WriterStats } from './context.js'

export type LogWork<R> = (tx: Queryable) => Promise<{ entries: AuditEntry[], result: R }>

export class AuditWriter {
  private readonly queues = new Map<string, Pending[]>()
  private readonly lanes = new Map<string, Lane>()
  private queued = 0
  private readonly maxBatch: number
  private readonly maxQueue: number
  readonly stats: WriterStats = { groups: 0, records: 0, failedGroups: 0, expired: 0, lateCommits: 0, inDoubt: 0, recoveredCommits: 0, requeued: 0, resealed: 0, refused: 0 }
  /** What committing a group needs of this writer (see group.ts). */
  private readonly ctx: WriterContext

  constructor (db: Database, key: HmacSigningKey, options: WriterOptions = {}) {
    this.maxBatch = options.maxBatch ?? 256
    this.maxQueue = options.maxQueue ?? 10_000
    this.ctx = { db, key, options, stats: this.stats, heads: new Map(), requeue: (tenantId, live) => this.requeue(tenantId, live) }
  }

  /** Appends accepted and not yet settled, over all tenants. */
  get pending (): number {
    return this.queued
  }

  /** Appends `entry` to its tenant's log; resolves with the sealed record once committed. */
  async append (entry: AuditEntry, deadline: number): Promise<SealedRecord> {
    const [sealed] = await this.enqueue(entry.tenant_id, [entry], deadline)
    return sealed
  }

  /**
   * Runs `work` in a transaction of `tenantId`'s log under its head lock, leading a group; the
   * entries it returns are appended first and commit with the group. Resolves with the sealed
   * records and the work's result; rejects with the work's error. A work that refuses (throws)
   * is undone alone in a savepoint; one that never refuses (`refuses: false`) saves the
   * savepoint's two round trips, and an error of it rolls its whole group back: it fails, the
   * others go again.
   *
   * A work that reads no records of the log (`readsLog: false`) may share its group's
   * transaction and lock with other such works, one after another: each sees what the ones
   * before it changed, but not their records, which are inserted as the group ends. A work may
   * run more than once (its group rolled back), so it must do all it does through `tx`.
   *
   * An `opening` is a work's first statement, made for many: the openings of a group's works
   * that name the same batch are sent in one statement, before any of its works run; if that
   * statement fails, so do they all. A work an opening decided runs first, so that its records
   * come before those of works that may have seen what it did.
   */
  async transact<R, I = never, O = never> (tenantId: string, deadline: number, work: LogWork<R>, options: { refuses?: boolean, readsLog?: boolean, opening?: Opening<I, O> } = {}): Promise<{ records: SealedRecord[], result: R }> {
    let result: R | undefined
    const how = { kind: options.refuses === false ? 'total' as const : 'refusable' as const, shares: options.readsLog === false, opening: options.opening as PendingOpening | undefined }
    const records = await this.enqueue(tenantId, [], deadline, how, async (tx) => {
      const out = await work(tx)
      if (out.entries.some((e) => e.tenant_id !== tenantId)) throw new Error(`a transaction of log ${tenantId} returned another log's entry`)
      result = out.result
      return out.entries
    })
    return { records, result: result as R }
  }

  private async enqueue (tenantId: string, entries: AuditEntry[], deadline: number, how?: Pick<Pending, 'kind' | 'shares' | 'opening'>, work?: Pending['work']): Promise<SealedRecord[]> {
    if (this.queued >= this.maxQueue) {
      throw errorFor('recordQueueFull')
    }
    return await new Promise<SealedRecord[]>((resolve, reject) => {
      const p: Pending = {
        entries,
        deadline,
        ...how,
        work,
        settled: false,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.stats.expired++
          settle(p, errorFor('recordOverBudget'))
        }, Math.max(0, deadline - performance.now()))
      }
      this.queued++
      const queue = this.queues.get(tenantId)
      if (queue !== undefined) {
        queue.push(p)
        // Appends wait for a group under way to end, and gather meanwhile; but not for a
        // transaction alone, which may wait long for its lock.
        this.lanes.get(tenantId)?.poke()
        return
      }
      this.queues.set(tenantId, [p])
      this.drain(tenantId).catch((err: unknown) => this.ctx.options.log?.error({ err }, 'audit writer failed'))
    })
  }

  /** Appends of a group that rolled back go first in its log's queue again. */
  private requeue (tenantId: string, live: Pending[]): void {
    this.queued += live.length
    this.queues.get(tenantId)?.unshift(...live)
  }

  private async drain (tenantId: string): Promise<void> {
    const queue = this.queues.get(tenantId) as Pending[]
    const lane = new Lane()
    this.lanes.set(tenantId, lane)
    // Let appends made in the same tick join the first group.
    await Promise.resolve()
    try {
      while (queue.length > 0 || lane.inflight.size > 0) {
        const next = groupStart(queue, lane)
        if (next === -1) {
          await lane.change()
          continue
        }
        if (lane.resync) {
          // A group was sealed again: those sealed after it are on a wrong head. Once none is
          // under way, the next group finds the true head under the lock.
          this.ctx.heads.delete(tenantId)
          lane.resync = false
        }
        const group = takeGroup(queue, next, this.maxBatch)
        this.queued -= group.length
        // Callers that already gave up are dropped here, before anything reaches the database.
        const live = group.filter((p) => !p.settled)
        if (live.length > 0) this.send(tenantId, live, lane)
      }
    } finally {
      this.queues.delete(tenantId)
      this.lanes.delete(tenantId)
      // A resync nobody was left to carry out: the next drain finds the head under the lock.
      if (lane.resync) this.ctx.heads.delete(tenantId)
    }
  }

  /** Starts committing a group: sealed ahead if it can be, on its way at once. */
  private send (tenantId: string, live: Pending[], lane: Lane): void {
    // A transaction is sealed once its work is done (see commit); other groups at once. (Its
    // leader may have given up: a group with any transaction left is one.)
    const appended = signal()
    const transaction = live.some((p) => p.work !== undefined)
    const predicted = transaction ? undefined : predict(this.ctx, tenantId, live, appended)
    // A group that must find the head under the lock holds the others back until it has
    // sealed: they are then sealed ahead on it instead of each queueing for the lock.
    const blind = !transaction && predicted === undefined
    if (blind) lane.hold()
    lane.run(commit(this.ctx, tenantId, live, predicted, lane, blind, appended), transaction)
  }
}
