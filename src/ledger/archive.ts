/**
 * Archiving the audit log: the partitions filed before a date leave the database, each log's
 * records in them having first been exported, verified and ended on a checkpoint. The steps, as
 * `arbiter audit archive` (src/cli/audit.ts) runs them:
 *
 *   1. planArchive: the closed partitions wholly before the date, and where each log is cut.
 *      `filed_at` never runs backwards within a log (migrations/0013), so what a log has in
 *      them is a prefix of it; a log where that does not hold is refused, not split.
 *   2. exportLogs with `archive` (export.ts): every record from each log's start (seq 1, or
 *      the previous archive's checkpoint) to its cut, verified, ending on a checkpoint.
 *   3. The file is synced and verified again offline, as an auditor would.
 *   4. removeArchived: every log closed before the cut; then, in one transaction, the log
 *      locked (appends wait the milliseconds it takes), the partitions detached, what they hold
 *      checked against the plan (a record filed meanwhile, by any log, aborts it all), a signed
 *      archive statement per log, and the partitions dropped (or, kept, renamed).
 */
import { signArchive, type Archived } from '../audit/archive.js'
import type { CheckpointKey } from '../audit/checkpoint.js'
import { listCheckpoints } from '../store/checkpoints.js'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Database, Queryable } from '../store/db.js'
import { readLog } from '../store/log-read.js'
import { closeBefore, detachPartition, insertArchive, latestArchives, listPartitions, logCuts, partitionHeads, removePartition, type Partition } from '../store/partitions.js'

export interface ArchivePlan {
  /** The end of the last partition that leaves: records filed before it go. */
  cut: Date
  partitions: Partition[]
  /** Per log with records to archive: the last seq that goes. */
  cuts: Map<string, number>
}

/** The archive would not be whole or would split a log: nothing was removed. */
export class ArchiveRefused extends Error {
  override name = 'ArchiveRefused'
}

/** What archiving before `before` would take out, or undefined when no partition ends by then. */
export async function planArchive (db: Database, before: Date, now: Date): Promise<ArchivePlan | undefined> {
  if (before.getTime() > now.getTime()) throw new ArchiveRefused(`${before.toISOString()} is in the future: only partitions that have closed can be archived`)
  const partitions = (await listPartitions(db)).filter((p) => p.hi.getTime() <= before.getTime())
  if (partitions.length === 0) return undefined
  const cut = new Date(Math.max(...partitions.map((p) => p.hi.getTime())))
  const archived = await latestArchives(db)
  const cuts = new Map<string, number>()
  for (const l of await logCuts(db, cut)) {
    if (l.straddling > 0) {
      throw new ArchiveRefused(`log ${l.tenant_id}: ${l.straddling} of its records up to seq ${l.seq} are filed after ${cut.toISOString()}: the log cannot be cut there (were rows written around Arbiter?)`)
    }
    const from = archived.get(l.tenant_id)?.seq ?? 0
    if (l.seq > from) cuts.set(l.tenant_id, l.seq)
    else if (l.seq > 0) throw new ArchiveRefused(`log ${l.tenant_id} still holds records up to seq ${l.seq}, which its archive statement says left at seq ${from}`)
  }
  return { cut, partitions, cuts }
}

export interface Removed {
  statements: Archived[]
  /** Partitions dropped, or detached and kept under the name given. */
  dropped: string[]
  kept: string[]
}

/**
 * Takes the planned partitions out once their records are safe in a verified archive. First
 * every log is closed before the cut (its own transaction, waiting only for appends under way).
 * Then, in one transaction or not at all: the log's lock taken first and briefly (appends and
 * reads wait, none is refused; a lock not had within `lockTimeoutMs` is tried again, up to
 * `attempts` times), the partitions detached, what they hold checked against the plan (a record
 * filed in them since, by any log, refuses it all), the archive statements stored and the
 * partitions dropped or kept.
 */
export async function removeArchived (db: Database, plan: ArchivePlan, signer: CheckpointKey, o: RemoveOptions): Promise<Removed> {
  await db.transaction(async (tx) => { await closeBefore(tx, plan.cut) })
  const attempts = o.attempts ?? 30
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(async (tx) => await takeOut(tx, plan, signer, o))
    } catch (err) {
      const code = (err as { code?: unknown }).code
      if (code !== LOCK_NOT_AVAILABLE && code !== DEADLOCK) throw err
      if (attempt >= attempts) {
        throw new ArchiveRefused(`could not lock the log for ${o.lockTimeoutMs ?? 250} ms in ${attempts} attempts (a long read holds it: an export, a replay?): nothing was removed; archive again`)
      }
      await sleep(o.pauseMs ?? 1000)
    }
  }
}

export interface RemoveOptions {
  now: Date
  keep: boolean
  /** How long each attempt waits for the log's lock; appends wait as long, within their budget. */
  lockTimeoutMs?: number
  attempts?: number
  /** Between attempts. */
  pauseMs?: number
}

const LOCK_NOT_AVAILABLE = '55P03'
const DEADLOCK = '40P01'

async function takeOut (tx: Queryable, plan: ArchivePlan, signer: CheckpointKey, o: RemoveOptions): Promise<Removed> {
  await tx.query(`set local lock_timeout = ${Math.max(1, Math.floor(o.lockTimeoutMs ?? 250))}`)
  // The table first, and no row lock after it: an append holding its head waits for this lock,
  // never the other way round.
  await tx.query('lock table audit_log in access exclusive mode')
  // Each log's cut, where the archive ended it on a checkpoint: read while the records are in the log.
  const cuts: Array<{ log: string, seq: number, hash: string }> = []
  for (const [log, seq] of plan.cuts) {
    const [c] = await listCheckpoints(tx, log, seq, seq, 1)
    const [record] = await readLog(tx, log, seq, seq, 1)
    if (c === undefined || record?.hash !== c.head_hash) throw new ArchiveRefused(`log ${log}: no checkpoint at seq ${seq} vouches for the record there: nothing was removed`)
    cuts.push({ log, seq, hash: c.head_hash })
  }
  const held = new Map<string, number>()
  for (const p of plan.partitions) {
    await detachPartition(tx, p.name)
    for (const [log, seq] of await partitionHeads(tx, p.name)) held.set(log, Math.max(seq, held.get(log) ?? 0))
  }
  for (const log of new Set([...held.keys(), ...plan.cuts.keys()])) {
    if (held.get(log) !== plan.cuts.get(log)) {
      throw new ArchiveRefused(`log ${log} has records up to seq ${held.get(log) ?? 0} filed before ${plan.cut.toISOString()}, not ${plan.cuts.get(log) ?? 0} as archived: nothing was removed; archive again`)
    }
  }
  const statements: Archived[] = []
  for (const { log, seq, hash } of cuts) {
    const a = signArchive(signer, { tenantId: log, seq, hash, before: plan.cut.toISOString(), at: o.now.toISOString() })
    await insertArchive(tx, a)
    statements.push(a)
  }
  const dropped: string[] = []
  const kept: string[] = []
  for (const p of plan.partitions) {
    const keptAs = await removePartition(tx, p.name, o.keep)
    if (keptAs === undefined) dropped.push(p.name)
    else kept.push(keptAs)
  }
  return { statements, dropped, kept }
}
