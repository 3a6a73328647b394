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
 *   4. removeArchived, in one transaction: every log's head locked (appends wait the few
 *      milliseconds it takes) and closed before the cut, the cuts checked again (a record filed
 *      meanwhile aborts it all), a signed archive statement per log, and the partitions dropped
 *      (or, kept, detached).
 */
import { signArchive, type Archived } from '../audit/archive.js'
import type { CheckpointKey } from '../audit/checkpoint.js'
import { listCheckpoints } from '../store/checkpoints.js'
import type { Database } from '../store/db.js'
import { readLog } from '../store/log-read.js'
import { closeBefore, insertArchive, latestArchives, listPartitions, logCuts, removePartition, type Partition } from '../store/partitions.js'

export interface ArchivePlan {
  /** The end of the last partition that leaves: records filed before it go. */
  cut: Date
  partitions: Partition[]
  /** Per log with records to archive: the last seq that goes. */
  cuts: Map<string, number>
  /** Per log: its last record filed before the cut when planned (0 when none), to check again at the end. */
  expected: Map<string, number>
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
  const expected = new Map<string, number>()
  for (const l of await logCuts(db, cut)) {
    if (l.straddling > 0) {
      throw new ArchiveRefused(`log ${l.tenant_id}: ${l.straddling} of its records up to seq ${l.seq} are filed after ${cut.toISOString()}: the log cannot be cut there (were rows written around Arbiter?)`)
    }
    expected.set(l.tenant_id, l.seq)
    const from = archived.get(l.tenant_id)?.seq ?? 0
    if (l.seq > from) cuts.set(l.tenant_id, l.seq)
    else if (l.seq > 0) throw new ArchiveRefused(`log ${l.tenant_id} still holds records up to seq ${l.seq}, which its archive statement says left at seq ${from}`)
  }
  return { cut, partitions, cuts, expected }
}

export interface Removed {
  statements: Archived[]
  /** Partitions dropped, or detached and kept under the name given. */
  dropped: string[]
  kept: string[]
}

/**
 * Takes the planned partitions out once their records are safe in a verified archive: in one
 * transaction, or not at all.
 */
export async function removeArchived (db: Database, plan: ArchivePlan, signer: CheckpointKey, o: { now: Date, keep: boolean, lockTimeoutMs?: number }): Promise<Removed> {
  return await db.transaction(async (tx) => {
    await tx.query(`set local lock_timeout = ${Math.max(1, Math.floor(o.lockTimeoutMs ?? 10_000))}`)
    // Heads first, then the table: an append locks its head before it inserts.
    await closeBefore(tx, plan.cut)
    for (const l of await logCuts(tx, plan.cut)) {
      const was = plan.expected.get(l.tenant_id) ?? 0
      if (l.seq !== was || l.straddling > 0) {
        throw new ArchiveRefused(`log ${l.tenant_id} now has records up to seq ${l.seq} filed before ${plan.cut.toISOString()}, not ${was} as when it was archived: nothing was removed; archive again`)
      }
    }
    const statements: Archived[] = []
    for (const [log, seq] of plan.cuts) {
      const [c] = await listCheckpoints(tx, log, seq, seq, 1)
      const [record] = await readLog(tx, log, seq, seq, 1)
      if (c === undefined || record?.hash !== c.head_hash) throw new ArchiveRefused(`log ${log}: no checkpoint at seq ${seq} vouches for the record there: nothing was removed`)
      const a = signArchive(signer, { tenantId: log, seq, hash: c.head_hash, before: plan.cut.toISOString(), at: o.now.toISOString() })
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
  })
}
