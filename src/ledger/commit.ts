/**
 * Committing a group: in one statement if it was sealed ahead, else in a transaction.
 *
 * Every append settles by its deadline. Callers whose deadline passed before their group was
 * sent are left out; a group is rolled back if its rows are not in before its shortest deadline
 * (checked by the server for a one-statement group, by this writer before COMMIT for a
 * transaction); a failed group fails every record in it. Only the commit and its answer can
 * race a deadline, and that is counted (`lateCommits`) and logged.
 */
import { performance } from 'node:perf_hooks'
import type { SealedRecord } from '../audit/chain.js'
import { CommitOutcomeUnknown, type Queryable } from '../store/db.js'
import { appendAndCommit, appendFailedForSure, appendRecords, lockHead } from '../store/log-append.js'
import type { Pending, Report, WriterContext } from './context.js'
import { fail, succeed } from './group.js'
import type { Lane, Signal } from './lane.js'
import { landed, landedAlone } from './recovery.js'
import { seal, sealOn, type Predicted } from './sealing.js'
import { runTransaction } from './transaction.js'

/**
 * Taken off a one-statement group's budget: the server counts it from when the statement
 * arrives, after its way there, and the commit and its answer come after the check.
 */
const BUDGET_MARGIN_MS = 2

/** One group's commit under way. */
interface GroupCommit {
  readonly tenantId: string
  readonly group: Pending[]
  readonly lane: Lane
  /** Fires once the group's append has returned (or the group has ended). */
  readonly appended: Signal
  /** Lets the groups a blind group holds back go on, once it has sealed. */
  readonly release: () => void
  readonly report: Report
}

/** What a group's transaction got to: the records it sealed last and the id its append returned. */
interface Attempt {
  sealed: SealedRecord[]
  xid: string | undefined
}

/**
 * Commits `group` of `tenantId`'s log and settles its callers: in one statement if it was sealed
 * ahead (`predicted`), else, or if the head moved, in a transaction under the head lock.
 */
export async function commit (ctx: WriterContext, tenantId: string, group: Pending[], predicted: Predicted | undefined, lane: Lane, blind: boolean, appended: Signal): Promise<void> {
  // A blind group holds the others back until it has sealed (or ended).
  let holding = blind
  const release = (): void => {
    if (!holding) return
    holding = false
    lane.release()
  }
  try {
    const started = performance.now()
    const report: Report = (outcome) => ctx.options.onGroup?.(outcome, group.length, performance.now() - started)
    await commitGroup(ctx, { tenantId, group, lane, appended, release, report }, predicted)
  } finally {
    release()
    appended.fire()
  }
}

async function commitGroup (ctx: WriterContext, g: GroupCommit, predicted: Predicted | undefined): Promise<void> {
  if (predicted !== undefined) {
    if (await commitAlone(ctx, g, predicted) === 'settled') return
    // The head was not where the group was sealed (the group before failed, or another
    // instance appended): it is sealed again under the lock, and later groups after it.
    ctx.stats.resealed++
    g.lane.resync = true
  }
  const attempt: Attempt = { sealed: [], xid: undefined }
  try {
    await ctx.db.transaction(async (tx) => await appendInTransaction(ctx, tx, g, attempt), { timeoutMs: Math.min(...g.group.map((p) => p.deadline)) - performance.now() })
  } catch (err) {
    if (err instanceof CommitOutcomeUnknown && await landed(ctx, g.tenantId, attempt.sealed, attempt.xid)) {
      ctx.stats.recoveredCommits++
      g.report('committed')
      succeed(ctx, g.tenantId, g.group, attempt.sealed)
      return
    }
    fail(ctx, g.tenantId, g.group, err, g.report)
    return
  }
  g.report('committed')
  succeed(ctx, g.tenantId, g.group, attempt.sealed)
}

/**
 * Commits a group sealed ahead in one statement of its own (append, head and commit in one
 * round trip), once the group it was sealed on has sent its own. `moved` if the head was not
 * at `from` (nothing was appended); otherwise the group is settled, committed or failed.
 */
async function commitAlone (ctx: WriterContext, g: GroupCommit, predicted: Predicted): Promise<'moved' | 'settled'> {
  const { from, records } = predicted
  let conn: Queryable | undefined
  let moved = false
  try {
    await from.appended?.settled
    // As they stand when the statement leaves: the server rolls the group back unless its rows
    // are in within the shortest deadline (less a margin for the way there), and waits for the
    // head no longer than the longest (see migrations/0005).
    moved = !await ctx.db.session(async (c) => {
      conn = c
      const now = performance.now()
      const deadlines = g.group.map((p) => p.deadline)
      return await appendAndCommit(c, g.tenantId, from, records, Math.min(...deadlines) - now - BUDGET_MARGIN_MS, Math.max(...deadlines) - now)
    })
  } catch (err) {
    g.appended.fire()
    if (!appendFailedForSure(err) && await landedAlone(ctx, g.tenantId, records, conn?.pid, err)) {
      ctx.stats.recoveredCommits++
      g.report('committed')
      succeed(ctx, g.tenantId, g.group, records)
    } else {
      fail(ctx, g.tenantId, g.group, err, g.report)
    }
    return 'settled'
  }
  g.appended.fire()
  if (moved) return 'moved'
  g.report('committed')
  succeed(ctx, g.tenantId, g.group, records)
  return 'settled'
}

/** The group's transaction: its transactions' works first, then the group sealed and appended. */
async function appendInTransaction (ctx: WriterContext, tx: Queryable, g: GroupCommit, attempt: Attempt): Promise<void> {
  const { tenantId, group } = g
  const ahead = group.some((p) => p.work !== undefined) ? await runTransaction(ctx, tx, tenantId, group, g.lane) : undefined
  const from = ahead ?? await lockHead(tx, tenantId)
  attempt.sealed = sealOn(ctx, tenantId, group, from, g.appended)
  g.release()
  // Nothing to append: whatever a work changed commits on its own.
  if (attempt.sealed.length === 0) return
  // If the head is not at `from` when the append gets it, the group before failed or
  // another instance appended: seal again under the lock.
  attempt.xid = await appendRecords(tx, tenantId, from, attempt.sealed)
  g.appended.fire()
  if (attempt.xid === undefined) await resealLocked(ctx, tx, g, attempt)
  // A caller answered while the insert ran must not find its record committed.
  if (group.some((p) => p.settled && p.refusal === undefined)) throw new Error('a caller in the group was answered before it could commit')
}

/** Seals the group again on the head taken under its lock, and appends it there. */
async function resealLocked (ctx: WriterContext, tx: Queryable, g: GroupCommit, attempt: Attempt): Promise<void> {
  ctx.stats.resealed++
  g.lane.resync = true
  const head = await lockHead(tx, g.tenantId)
  attempt.sealed = seal(g.group, head, ctx.key)
  attempt.xid = await appendRecords(tx, g.tenantId, head, attempt.sealed)
  if (attempt.xid === undefined) throw new Error(`log ${g.tenantId} moved under its head lock`)
}
