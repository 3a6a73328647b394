/**
 * A transaction (`transact`) leads a group: its work runs under the log's transaction lock (one
 * at a time, on every instance; appends go on around it), in a savepoint unless it never
 * refuses; it may change other tables and returns the records to append, which commit with the
 * group's other records, so a state change and the records that tell of it commit together or
 * not at all. A work that refuses (throws) is undone alone; the rest of its group goes on. Works
 * that read no log records may share one group (grouping.ts): they run one after another here.
 */
import { errorCausedBy } from '../errors/index.js'
import type { Queryable } from '../store/db.js'
import { lockTransactions } from '../store/log-append.js'
import type { Head, Pending, PendingOpening, WriterContext } from './context.js'
import { settle } from './group.js'
import { fired, type Lane } from './lane.js'

/** How long a transaction waits, holding its connection, for the group it would be sealed on to be sent. */
const AHEAD_WAIT_MS = 100

/**
 * Runs the works of the group's transactions, in order, in the group's transaction `tx`; returns
 * the head to seal the group ahead on, or undefined to take the head under the lock.
 */
export async function runTransaction (ctx: Pick<WriterContext, 'db' | 'stats' | 'heads'>, tx: Queryable, tenantId: string, group: Pending[], lane: Lane): Promise<Head | undefined> {
  // Transactions of a log run one at a time (on every instance), each seeing what the
  // ones before it committed, while the log's appends go on around them; its records
  // are then sealed ahead like any group's.
  await lockTransactions(tx, tenantId)
  const decided = await open(tx, group)
  // The works their openings decided run first, and their records come first: a work after them
  // may have seen what they did.
  if (decided.size > 0) group.sort((a, b) => Number(!decided.has(a)) - Number(!decided.has(b)))
  for (const p of group) {
    if (p.work === undefined) continue
    // One whose caller gave up while the ones before it ran is left out, as if it had refused.
    if (p.settled) p.refusal ??= new Error('its caller was answered before its work ran')
    else await runWork(ctx, tx, p)
  }
  return await headAhead(ctx, tenantId, lane)
}

/**
 * Sends the openings of the group's works, one statement for each batch they name, and tells
 * each work its output; returns the works they decided. A statement that fails fails the works
 * it was for, and the group's transaction with them: the rest of the group goes again.
 */
async function open (tx: Queryable, group: Pending[]): Promise<Set<Pending>> {
  const batches = new Map<PendingOpening['batch'], Pending[]>()
  for (const p of group) {
    if (p.opening === undefined || p.settled) continue
    const members = batches.get(p.opening.batch) ?? []
    members.push(p)
    batches.set(p.opening.batch, members)
  }
  const decided = new Set<Pending>()
  for (const [batch, members] of batches) {
    let outputs: unknown[]
    try {
      outputs = await batch(tx, members.map((p) => p.opening?.input))
      if (outputs.length !== members.length) throw new Error(`an opening gave ${outputs.length} outputs for ${members.length} inputs`)
    } catch (err) {
      for (const p of members) {
        p.refusal = errorCausedBy(err, 'recordDatabaseDown')
        p.brokeGroup = true
        settle(p, p.refusal)
      }
      throw err
    }
    members.forEach((p, i) => { if (p.opening?.opened(outputs[i]) === true) decided.add(p) })
  }
  return decided
}

/**
 * Runs a transaction's work in a savepoint: if it throws, it alone is undone and refused. One
 * that never refuses runs without: if it throws, it fails and takes the group's transaction
 * down, and the rest of the group goes again (group.ts).
 */
async function runWork (ctx: Pick<WriterContext, 'stats'>, tx: Queryable, p: Pending): Promise<void> {
  const work = p.work as NonNullable<Pending['work']>
  if (p.kind === 'total') {
    try {
      p.entries = await work(tx)
    } catch (err) {
      p.entries = []
      p.refusal = errorCausedBy(err, 'recordDatabaseDown')
      p.brokeGroup = true
      settle(p, p.refusal)
      throw err
    }
    return
  }
  await tx.query('savepoint arbiter_work')
  try {
    p.entries = await work(tx)
    p.refusal = undefined
  } catch (err) {
    await tx.query('rollback to savepoint arbiter_work')
    p.entries = []
    ctx.stats.refused++
    p.refusal = err instanceof Error ? err : new Error(String(err))
    settle(p, p.refusal)
    return
  }
  await tx.query('release savepoint arbiter_work')
}

/**
 * The head a transaction's records are sealed ahead on: the one the last group sealed will
 * leave, once that group's append has returned, new groups held back meanwhile. Waiting for that
 * holds this connection and the lock while the group may itself wait for a connection: so not at
 * all on the embedded database (its only connection is this one), and only a moment on a server.
 * Otherwise (undefined) the head is taken under the lock, and the groups not yet sent find it
 * moved and are sealed again.
 */
async function headAhead (ctx: Pick<WriterContext, 'db' | 'heads'>, tenantId: string, lane: Lane): Promise<Head | undefined> {
  let ahead = lane.resync ? undefined : ctx.heads.get(tenantId)
  if (ahead?.appended === undefined || ahead.appended.fired) return ahead
  lane.hold()
  try {
    if (!await fired(ahead.appended, ctx.db.kind === 'embedded' ? 0 : AHEAD_WAIT_MS)) ahead = undefined
  } finally {
    lane.release()
  }
  // A group that failed meanwhile took its head with it.
  if (lane.resync || ctx.heads.get(tenantId) !== ahead) ahead = undefined
  return ahead
}
