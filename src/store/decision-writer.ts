/**
 * Group commit for decision records. Concurrent checks queue their signed records; one writer
 * drains the queue, committing up to `maxBatch` records per transaction, so durability costs one
 * commit per group rather than one per decision. Every write settles by its deadline: a record
 * whose caller has given up is never sent, and a group that fails fails every record in it.
 */
import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger as Logger } from 'fastify'
import type { SignedDecision } from '../audit/decision-record.js'
import { ArbiterError } from '../errors.js'
import type { Database } from './db.js'
import { insertDecisions } from './decisions.js'

export interface WriterOptions {
  maxBatch?: number
  /** Records waiting at most; past it a write fails at once, so memory stays bounded. */
  maxQueue?: number
  log?: Pick<Logger, 'warn' | 'error'>
}

interface Entry {
  record: SignedDecision
  deadline: number
  settled: boolean
  timer: NodeJS.Timeout
  resolve: () => void
  reject: (err: Error) => void
}

export interface WriterStats {
  groups: number
  records: number
  failedGroups: number
  expired: number
  /** Records committed after their caller was already answered 503 (should stay 0). */
  lateCommits: number
}

export class DecisionWriter {
  private readonly queue: Entry[] = []
  private draining = false
  private readonly maxBatch: number
  private readonly maxQueue: number
  readonly stats: WriterStats = { groups: 0, records: 0, failedGroups: 0, expired: 0, lateCommits: 0 }

  constructor (private readonly db: Database, private readonly options: WriterOptions = {}) {
    this.maxBatch = options.maxBatch ?? 256
    this.maxQueue = options.maxQueue ?? 10_000
  }

  /** Resolves once `record` is committed; rejects with ARBITER_ERR_RECORD_UNAVAILABLE otherwise. */
  async write (record: SignedDecision, deadline: number): Promise<void> {
    if (this.queue.length >= this.maxQueue) {
      throw new ArbiterError('ARBITER_ERR_RECORD_UNAVAILABLE', 'the decision could not be recorded: the record queue is full')
    }
    await new Promise<void>((resolve, reject) => {
      const entry: Entry = {
        record,
        deadline,
        settled: false,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.stats.expired++
          this.settle(entry, new ArbiterError('ARBITER_ERR_RECORD_UNAVAILABLE', 'the decision could not be recorded within the check budget'))
        }, Math.max(0, deadline - performance.now()))
      }
      this.queue.push(entry)
      if (!this.draining) this.drain().catch((err: unknown) => this.options.log?.error({ err }, 'decision writer failed'))
    })
  }

  private settle (entry: Entry, err?: Error): void {
    if (entry.settled) return
    entry.settled = true
    clearTimeout(entry.timer)
    if (err === undefined) entry.resolve()
    else entry.reject(err)
  }

  private async drain (): Promise<void> {
    this.draining = true
    try {
      while (this.queue.length > 0) {
        // Callers that already gave up are dropped here, before anything reaches the database.
        const batch = this.queue.splice(0, this.maxBatch).filter((e) => !e.settled)
        if (batch.length > 0) await this.commit(batch)
      }
    } finally {
      this.draining = false
    }
  }

  private async commit (batch: Entry[]): Promise<void> {
    let live: Entry[] = []
    try {
      await this.db.transaction(async (tx) => {
        // Waiting for the connection may have outlived some callers: leave them out.
        live = batch.filter((e) => !e.settled)
        if (live.length === 0) return
        if (this.db.kind === 'postgres') {
          // The group must not commit after its most pressed caller has been answered.
          const remaining = Math.max(1, Math.floor(Math.min(...live.map((e) => e.deadline)) - performance.now()))
          await tx.query("select set_config('statement_timeout', $1, true)", [String(remaining)])
        }
        await insertDecisions(tx, live.map((e) => e.record))
        // A caller answered 503 while the insert ran must not find its decision committed.
        if (live.some((e) => e.settled)) throw new Error('a caller in the group was answered before it could commit')
      })
    } catch (err) {
      this.stats.failedGroups++
      this.options.log?.error({ err, records: live.length }, 'decision group failed to commit')
      const failure = new ArbiterError('ARBITER_ERR_RECORD_UNAVAILABLE', 'the decision could not be recorded: the database is unavailable', { cause: err })
      for (const e of batch) this.settle(e, failure)
      return
    }
    if (live.length === 0) return
    this.stats.groups++
    this.stats.records += live.length
    for (const e of live) {
      if (e.settled) {
        // Only the COMMIT round trip itself can race a deadline now; count it if it ever does.
        this.stats.lateCommits++
        this.options.log?.warn({ decisionId: e.record.fields.decision_id }, 'decision committed after its caller was answered 503')
      }
      this.settle(e)
    }
  }
}
