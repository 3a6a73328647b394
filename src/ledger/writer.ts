/**
 * The one writer of the tenant audit logs, with group commit. Appends queue per tenant; each
 * tenant's queue drains on its own, committing up to `maxBatch` records at a time under the
 * log's head-row lock, so sequence numbers are gapless, the chain never forks (across
 * instances too), durability costs one commit per group, and tenants do not wait for each other.
 *
 * Groups are sealed ahead: each onto the head the group sealed before it will leave, so several
 * are under way at once; each is sent once the one before has returned. A group sealed ahead is
 * one statement that appends, moves the head and commits (one round trip); the append moves the
 * head only from where the group was sealed, so a wrong guess (another instance appended, an
 * earlier group failed) is sealed again under the lock, in a transaction, never forked.
 *
 * A transaction (`transact`) leads a group of its own: its work runs under the log's
 * transaction lock (one at a time, on every instance; appends go on around it) and in a
 * savepoint; it may change other tables and returns the records to append, which commit with
 * the group's other records, so a state change and the records that tell of it commit together
 * or not at all. A work that throws is refused alone; the rest of its group goes on.
 *
 * Every append settles by its deadline. Callers whose deadline passed before their group was
 * sent are left out; a group is rolled back if its rows are not in before its shortest deadline
 * (checked by the server for a one-statement group, by this writer before COMMIT for a
 * transaction); a failed group fails every record in it. Only the commit and its answer can
 * race a deadline, and that is counted (`lateCommits`) and logged.
 */
import type { FastifyBaseLogger as Logger } from 'fastify'
import { performance } from 'node:perf_hooks'
import { sealRecord, type AuditEntry, type HmacSigningKey, type SealedRecord } from '../audit/chain.js'
import { ArbiterError } from '../errors/index.js'
import { appendAndCommit, appendFailedForSure, appendRecords, backendBusy, hasRecord, lockHead, lockTransactions, transactionStatus } from '../store/log-append.js'
import { CommitOutcomeUnknown, type Database, type Queryable } from '../store/db.js'

/**
 * Runs inside a transaction of one log, under its transaction lock: throwing undoes what it did
 * and rejects the call; the entries it returns (of that log) are appended and commit with
 * whatever else it changed.
 */
export type LogWork<R> = (tx: Queryable) => Promise<{ entries: AuditEntry[], result: R }>

export interface WriterOptions {
  maxBatch?: number
  /** Appends waiting at most, over all tenants; past it an append fails at once. */
  maxQueue?: number
  log?: Pick<Logger, 'warn' | 'error'>
  /** Told after each committed group (checkpointing hooks in here). */
  /** `from` is the head the group was appended onto, `head` the one it left. */
  onCommit?: (tenantId: string, from: { seq: number, hash: string }, head: { seq: number, hash: string }) => void
  /** Told after each group's transaction ends, with how many records it held and how long it took. */
  onGroup?: (outcome: 'committed' | 'failed', records: number, ms: number) => void
}

interface Pending {
  /** What it appends: one entry, or (for a transaction) what its work returns. */
  entries: AuditEntry[]
  deadline: number
  work?: (tx: Queryable) => Promise<AuditEntry[]>
  /** Whether a throwing work is refused alone (in a savepoint) or fails its group. */
  kind?: 'refusable' | 'total'
  /** Set when the work threw: the caller is answered with it and nothing of it commits. */
  refusal?: Error
  settled: boolean
  timer: NodeJS.Timeout
  resolve: (r: SealedRecord[]) => void
  reject: (err: Error) => void
}

export interface WriterStats {
  groups: number
  records: number
  failedGroups: number
  expired: number
  lateCommits: number
  /** Records whose COMMIT answer was lost and could not be read back (should stay 0). */
  inDoubt: number
  /** Groups whose COMMIT answer was lost but were found committed when read back. */
  recoveredCommits: number
  /** Appends sent again because their group rolled back after another caller in it was answered. */
  requeued: number
  /** Groups sealed again under the head lock because the head they were sealed on moved. */
  resealed: number
  /** Transactions whose work refused (threw): undone alone, the rest of their group went on. */
  refused: number
}

interface Head {
  seq: number
  hash: string
  /**
   * Fires once the append of the group that leaves this head has returned (or that group has
   * ended): a group sealed on it sends its own append only then, so that it never reaches the
   * server first and finds the head behind.
   */
  appended?: Signal
}

/**
 * Groups of one log under way at once: one committing while the next ones are sent. Measured on
 * the bench: 2 → 4 gave about 15 % more /check throughput; 8 little more.
 */
const MAX_INFLIGHT = 4

/**
 * Taken off a one-statement group's budget: the server counts it from when the statement
 * arrives, after its way there, and the commit and its answer come after the check.
 */
const BUDGET_MARGIN_MS = 2

/** How long a transaction waits, holding its connection, for the group it would be sealed on to be sent. */
const AHEAD_WAIT_MS = 100

export class AuditWriter {
  private readonly queues = new Map<string, Pending[]>()
  private readonly lanes = new Map<string, Lane>()
  /** Each log's head as the group this writer sealed last will leave it. */
  private readonly heads = new Map<string, Head>()
  private queued = 0
  private readonly maxBatch: number
  private readonly maxQueue: number
  readonly stats: WriterStats = { groups: 0, records: 0, failedGroups: 0, expired: 0, lateCommits: 0, inDoubt: 0, recoveredCommits: 0, requeued: 0, resealed: 0, refused: 0 }

  constructor (private readonly db: Database, private readonly key: HmacSigningKey, private readonly options: WriterOptions = {}) {
    this.maxBatch = options.maxBatch ?? 256
    this.maxQueue = options.maxQueue ?? 10_000
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
   * savepoint's two round trips, and any error of it fails its whole group.
   */
  async transact<R> (tenantId: string, deadline: number, work: LogWork<R>, options: { refuses?: boolean } = {}): Promise<{ records: SealedRecord[], result: R }> {
    let result: R | undefined
    const records = await this.enqueue(tenantId, [], deadline, options.refuses === false ? 'total' : 'refusable', async (tx) => {
      const out = await work(tx)
      if (out.entries.some((e) => e.tenant_id !== tenantId)) throw new Error(`a transaction of log ${tenantId} returned another log's entry`)
      result = out.result
      return out.entries
    })
    return { records, result: result as R }
  }

  private async enqueue (tenantId: string, entries: AuditEntry[], deadline: number, kind?: Pending['kind'], work?: Pending['work']): Promise<SealedRecord[]> {
    if (this.queued >= this.maxQueue) {
      throw new ArbiterError('ARBITER_ERR_RECORD_UNAVAILABLE', 'the record could not be written: the record queue is full')
    }
    return await new Promise<SealedRecord[]>((resolve, reject) => {
      const p: Pending = {
        entries,
        deadline,
        kind,
        work,
        settled: false,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.stats.expired++
          this.settle(p, new ArbiterError('ARBITER_ERR_RECORD_UNAVAILABLE', 'the record could not be written within the budget'))
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
      this.drain(tenantId).catch((err: unknown) => this.options.log?.error({ err }, 'audit writer failed'))
    })
  }

  private settle (p: Pending, outcome: SealedRecord[] | Error): void {
    if (p.settled) return
    p.settled = true
    clearTimeout(p.timer)
    if (outcome instanceof Error) p.reject(outcome)
    else p.resolve(outcome)
  }

  private async drain (tenantId: string): Promise<void> {
    const queue = this.queues.get(tenantId) as Pending[]
    const lane = new Lane()
    this.lanes.set(tenantId, lane)
    // Let appends made in the same tick join the first group.
    await Promise.resolve()
    try {
      while (queue.length > 0 || lane.inflight.size > 0) {
        // One transaction under way at a time (a second would only hold a connection while it
        // waited in the database for the first's lock); the appends queued behind it go on.
        const behind = queue.length > 0 && queue[0].work !== undefined && lane.transacting
        const next = !behind ? 0 : queue.length > 1 && queue[1].work === undefined ? 1 : -1
        if (queue.length === 0 || next === -1 || lane.inflight.size >= MAX_INFLIGHT || lane.held) {
          await lane.change()
          continue
        }
        if (lane.resync) {
          // A group was sealed again: those sealed after it are on a wrong head. Once none is
          // under way, the next group finds the true head under the lock.
          this.heads.delete(tenantId)
          lane.resync = false
        }
        // Up to maxBatch appends, led by at most one transaction: a second one's work could not
        // see the first one's records, which are inserted only as the group ends.
        const group = next === 0 ? queue.splice(0, Math.min(this.maxBatch, nextTransaction(queue))) : queue.splice(1, Math.min(this.maxBatch, nextTransaction(queue) - 1))
        this.queued -= group.length
        // Callers that already gave up are dropped here, before anything reaches the database.
        const live = group.filter((p) => !p.settled)
        if (live.length === 0) continue
        // A transaction is sealed once its work is done (see commit); other groups at once.
        const appended = signal()
        const predicted = live[0].work === undefined ? this.predict(tenantId, live, appended) : undefined
        // A group that must find the head under the lock holds the others back until it has
        // sealed: they are then sealed ahead on it instead of each queueing for the lock.
        const blind = live[0].work === undefined && predicted === undefined
        if (blind) lane.hold()
        lane.run(this.commit(tenantId, live, predicted, lane, blind, appended), live[0].work !== undefined)
      }
    } finally {
      this.queues.delete(tenantId)
      this.lanes.delete(tenantId)
      // A resync nobody was left to carry out: the next drain finds the head under the lock.
      if (lane.resync) this.heads.delete(tenantId)
    }
  }

  /**
   * Seals a group onto the head the most recently sealed group will leave, so it can be on its
   * way while that one commits. If that head turns out wrong (that group failed, or another
   * instance appended), the guarded append refuses and the group is sealed again.
   */
  private predict (tenantId: string, live: Pending[], appended: Signal): { from: Head, records: SealedRecord[] } | undefined {
    const from = this.heads.get(tenantId)
    if (from === undefined) return undefined
    return { from, records: this.sealOn(tenantId, live, from, appended) }
  }

  /**
   * Seals `group` onto `from` and makes its end the head later groups are sealed on; `appended`
   * fires when this group's append has returned.
   */
  private sealOn (tenantId: string, group: Pending[], from: Head, appended: Signal): SealedRecord[] {
    const records = this.seal(group, from)
    const last = records[records.length - 1]
    this.heads.set(tenantId, last === undefined ? from : { seq: last.seq, hash: last.hash, appended })
    return records
  }

  private async commit (tenantId: string, group: Pending[], predicted: { from: Head, records: SealedRecord[] } | undefined, lane: Lane, blind: boolean, appended: Signal): Promise<void> {
    // A blind group holds the others back until it has sealed (or ended).
    let holding = blind
    const release = (): void => {
      if (!holding) return
      holding = false
      lane.release()
    }
    try {
      await this.commitGroup(tenantId, group, predicted, lane, release, appended)
    } finally {
      release()
      appended.fire()
    }
  }

  private async commitGroup (tenantId: string, group: Pending[], predicted: { from: Head, records: SealedRecord[] } | undefined, lane: Lane, release: () => void, appended: Signal): Promise<void> {
    const started = performance.now()
    const report = (outcome: 'committed' | 'failed'): void => this.options.onGroup?.(outcome, group.length, performance.now() - started)
    if (predicted !== undefined) {
      if (await this.commitAlone(tenantId, group, predicted, appended, report) === 'settled') return
      // The head was not where the group was sealed (the group before failed, or another
      // instance appended): it is sealed again under the lock, and later groups after it.
      this.stats.resealed++
      lane.resync = true
    }
    let sealed: SealedRecord[] = []
    let xid: string | undefined
    try {
      await this.db.transaction(async (tx) => {
        let ahead: Head | undefined
        if (group[0].work !== undefined) {
          // Transactions of a log run one at a time (on every instance), each seeing what the
          // ones before it committed, while the log's appends go on around them; its records
          // are then sealed ahead like any group's.
          await lockTransactions(tx, tenantId)
          await this.runWork(tx, group[0])
          // Sealed ahead on the last group sealed once its append has returned, new groups held
          // back meanwhile. Waiting for that holds this connection and the lock while the group
          // may itself wait for a connection: so not at all on the embedded database (its only
          // connection is this one), and only a moment on a server. Otherwise the head is taken
          // under the lock, and the groups not yet sent find it moved and are sealed again.
          ahead = lane.resync ? undefined : this.heads.get(tenantId)
          if (ahead?.appended !== undefined && !ahead.appended.fired) {
            lane.hold()
            try {
              if (!await fired(ahead.appended, this.db.kind === 'embedded' ? 0 : AHEAD_WAIT_MS)) ahead = undefined
            } finally {
              lane.release()
            }
            // A group that failed meanwhile took its head with it.
            if (lane.resync || this.heads.get(tenantId) !== ahead) ahead = undefined
          }
        }
        const from: Head = ahead ?? await lockHead(tx, tenantId)
        sealed = this.sealOn(tenantId, group, from, appended)
        release()
        // Nothing to append: whatever a work changed commits on its own.
        if (sealed.length === 0) return
        // If the head is not at `from` when the append gets it, the group before failed or
        // another instance appended: seal again under the lock.
        xid = await appendRecords(tx, tenantId, from, sealed)
        appended.fire()
        if (xid === undefined) {
          this.stats.resealed++
          lane.resync = true
          const head = await lockHead(tx, tenantId)
          sealed = this.seal(group, head)
          xid = await appendRecords(tx, tenantId, head, sealed)
          if (xid === undefined) throw new Error(`log ${tenantId} moved under its head lock`)
        }
        // A caller answered while the insert ran must not find its record committed.
        if (group.some((p) => p.settled && p.refusal === undefined)) throw new Error('a caller in the group was answered before it could commit')
      }, { timeoutMs: Math.min(...group.map((p) => p.deadline)) - performance.now() })
    } catch (err) {
      if (err instanceof CommitOutcomeUnknown && await this.landed(tenantId, sealed, xid)) {
        this.stats.recoveredCommits++
        report('committed')
        this.succeed(tenantId, group, sealed)
        return
      }
      this.fail(tenantId, group, err, report)
      return
    }
    report('committed')
    this.succeed(tenantId, group, sealed)
  }

  /**
   * Commits a group sealed ahead in one statement of its own (append, head and commit in one
   * round trip), once the group it was sealed on has sent its own. `moved` if the head was not
   * at `from` (nothing was appended); otherwise the group is settled, committed or failed.
   */
  private async commitAlone (tenantId: string, group: Pending[], predicted: { from: Head, records: SealedRecord[] }, appended: Signal, report: (outcome: 'committed' | 'failed') => void): Promise<'moved' | 'settled'> {
    const { from, records } = predicted
    let conn: Queryable | undefined
    let moved = false
    try {
      await from.appended?.settled
      // As they stand when the statement leaves: the server rolls the group back unless its rows
      // are in within the shortest deadline (less a margin for the way there), and waits for the
      // head no longer than the longest (see migrations/0005).
      moved = !await this.db.session(async (c) => {
        conn = c
        const now = performance.now()
        const deadlines = group.map((p) => p.deadline)
        return await appendAndCommit(c, tenantId, from, records, Math.min(...deadlines) - now - BUDGET_MARGIN_MS, Math.max(...deadlines) - now)
      })
    } catch (err) {
      appended.fire()
      if (!appendFailedForSure(err) && await this.landedAlone(tenantId, records, conn?.pid, err)) {
        this.stats.recoveredCommits++
        report('committed')
        this.succeed(tenantId, group, records)
      } else {
        this.fail(tenantId, group, err, report)
      }
      return 'settled'
    }
    appended.fire()
    if (moved) return 'moved'
    report('committed')
    this.succeed(tenantId, group, records)
    return 'settled'
  }

  /** A group that did not commit: its callers go again if some were answered meanwhile, else all fail. */
  private fail (tenantId: string, group: Pending[], err: unknown, report: (outcome: 'committed' | 'failed') => void): void {
    // Whatever was sealed on this group is wrong now; later groups re-read the head.
    this.heads.delete(tenantId)
    report('failed')
    // Callers answered 503 while the group was under way (their deadline passed) roll it back;
    // the others still have time and go again. The group is smaller each time, so this ends.
    const live = group.filter((p) => !p.settled)
    const answered = group.some((p) => p.settled && p.refusal === undefined)
    if (live.length > 0 && answered) {
      this.stats.requeued += live.length
      this.queued += live.length
      this.queues.get(tenantId)?.unshift(...live)
      return
    }
    this.stats.failedGroups++
    this.options.log?.error({ err, records: group.length }, 'audit group failed to commit')
    const failure = new ArbiterError('ARBITER_ERR_RECORD_UNAVAILABLE', 'the record could not be written: the database is unavailable', { cause: err })
    for (const p of group) this.settle(p, failure)
  }

  private succeed (tenantId: string, group: Pending[], sealed: SealedRecord[]): void {
    this.stats.groups++
    let at = 0
    for (const p of group) {
      const own = sealed.slice(at, at += p.entries.length)
      if (p.settled && own.length > 0) {
        this.stats.lateCommits++
        this.options.log?.warn({ tenantId, seq: own[0].seq }, 'record committed after its caller was answered 503')
      }
      this.settle(p, own)
    }
    const last = sealed[sealed.length - 1]
    if (last === undefined) return
    this.stats.records += sealed.length
    this.options.onCommit?.(tenantId, { seq: sealed[0].seq - 1, hash: sealed[0].prevHash }, { seq: last.seq, hash: last.hash })
  }

  /**
   * Resolves a lost COMMIT answer by asking the server, on another connection, what became of
   * the group's transaction — waiting while it is still in progress (the server may be finishing
   * the commit after the client lost the socket).
   */
  private async landed (tenantId: string, sealed: SealedRecord[], xid: string | undefined): Promise<boolean> {
    if (sealed.length === 0 || xid === undefined) return false
    return await this.resolveLost(tenantId, sealed, new Error('still in progress'), async () => {
      const status = await transactionStatus(this.db, xid)
      return status === 'in progress' ? undefined : status === 'committed'
    })
  }

  /**
   * Resolves a lost answer to a group's one statement: once the server process that ran it is
   * no longer busy (it may be finishing the commit after the socket was lost), the group
   * committed if and only if its last record is in the log.
   */
  private async landedAlone (tenantId: string, records: SealedRecord[], pid: number | undefined, cause: unknown): Promise<boolean> {
    // Without the process (the embedded database, or a connection that never told it) there is
    // nothing to wait for, and a record read now could still commit: the group is in doubt.
    if (pid === undefined) return this.inDoubt(tenantId, records, cause)
    const last = records[records.length - 1]
    return await this.resolveLost(tenantId, records, cause, async () =>
      await backendBusy(this.db, pid) ? undefined : await hasRecord(this.db, tenantId, last.seq, last.hash))
  }

  /**
   * Asks `probe` (on another connection) whether a group whose answer was lost committed, every
   * 20 ms while it cannot tell yet, for up to a second; if that cannot be learned, the group is
   * in doubt.
   */
  private async resolveLost (tenantId: string, sealed: SealedRecord[], cause: unknown, probe: () => Promise<boolean | undefined>): Promise<boolean> {
    let lastErr = cause
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        const committed = await probe()
        if (committed !== undefined) return committed
      } catch (err) {
        lastErr = err
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    return this.inDoubt(tenantId, sealed, lastErr)
  }

  /** Counts and logs a group whose commit could not be learned; it is failed (false). */
  private inDoubt (tenantId: string, sealed: SealedRecord[], err: unknown): false {
    this.stats.inDoubt += sealed.length
    this.options.log?.error({ err, tenantId, fromSeq: sealed[0].seq, toSeq: sealed[sealed.length - 1].seq }, 'commit outcome unknown and unreadable: these records may be in the log although their callers were answered 503')
    return false
  }

  /** Runs a transaction's work in a savepoint: if it throws, it alone is undone and refused. */
  private async runWork (tx: Queryable, p: Pending): Promise<void> {
    const work = p.work as NonNullable<Pending['work']>
    if (p.kind === 'total') {
      p.entries = await work(tx)
      return
    }
    await tx.query('savepoint arbiter_work')
    try {
      p.entries = await work(tx)
      p.refusal = undefined
    } catch (err) {
      await tx.query('rollback to savepoint arbiter_work')
      p.entries = []
      this.stats.refused++
      p.refusal = err instanceof Error ? err : new Error(String(err))
      this.settle(p, p.refusal)
      return
    }
    await tx.query('release savepoint arbiter_work')
  }

  private seal (live: Pending[], head: Head): SealedRecord[] {
    let prev = head.hash
    return live.flatMap((p) => p.entries).map((entry, i) => {
      const r = sealRecord(entry, head.seq + i + 1, prev, this.key)
      prev = r.hash
      return r
    })
  }
}

/**
 * One log's groups under way, and what holds the next ones back: a group that must find the
 * head under the lock (until it has sealed), or a resync after a group had to be sealed again.
 */
class Lane {
  readonly inflight = new Set<Promise<void>>()
  resync = false
  transacting = false
  private holds = 0
  private wake = (): void => {}

  get held (): boolean {
    return this.holds > 0 || (this.resync && this.inflight.size > 0)
  }

  /** Resolves when a group ends or a hold is released. */
  async change (): Promise<void> {
    await Promise.race([...this.inflight, new Promise<void>((resolve) => { this.wake = resolve })])
  }

  run (job: Promise<void>, transaction: boolean): void {
    if (transaction) this.transacting = true
    const tracked: Promise<void> = job.finally(() => {
      if (transaction) this.transacting = false
      this.inflight.delete(tracked)
      this.wake()
    })
    this.inflight.add(tracked)
  }

  /** Wakes the drain for a new append when only a transaction is under way. */
  poke (): void {
    if (this.transacting && this.inflight.size === 1) this.wake()
  }

  hold (): void {
    this.holds++
  }

  release (): void {
    this.holds--
    this.wake()
  }
}

interface Signal {
  readonly settled: Promise<void>
  readonly fired: boolean
  fire: () => void
}

function signal (): Signal {
  let done!: () => void
  const settled = new Promise<void>((resolve) => { done = resolve })
  const s = { settled, fired: false, fire: () => { s.fired = true; done() } }
  return s
}

/** Whether `s` fires within `ms` milliseconds. */
async function fired (s: Signal, ms: number): Promise<boolean> {
  if (s.fired || ms <= 0) return s.fired
  let timer: NodeJS.Timeout | undefined
  await Promise.race([s.settled, new Promise<void>((resolve) => { timer = setTimeout(resolve, ms) })])
  clearTimeout(timer)
  return s.fired
}

/** The index of the first transaction in the queue after its head. */
function nextTransaction (queue: Pending[]): number {
  const i = queue.findIndex((p, at) => at > 0 && p.work !== undefined)
  return i === -1 ? queue.length : i
}
