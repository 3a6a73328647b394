/**
 * A group's appends and how they settle: committed (each caller gets its own records), or failed
 * (every caller fails, unless some were answered meanwhile: then the others go again).
 */
import type { AuditEntry, HmacSigningKey, SealedRecord } from '../audit/chain.js'
import { errorCausedBy } from '../errors/index.js'
import type { Database, Queryable } from '../store/db.js'
import type { Head } from './sealing.js'
import type { WriterOptions, WriterStats } from './writer.js'

/** An append waiting to commit, from the queue to its group's end. */
export interface Pending {
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

/** What committing a group needs of the writer it belongs to. */
export interface WriterContext {
  readonly db: Database
  readonly key: HmacSigningKey
  readonly options: WriterOptions
  readonly stats: WriterStats
  /** Each log's head as the group this writer sealed last will leave it. */
  readonly heads: Map<string, Head>
  /** Puts appends back at the front of their log's queue, to go in a later group. */
  readonly requeue: (tenantId: string, live: Pending[]) => void
}

/** Told how a group's transaction ended. */
export type Report = (outcome: 'committed' | 'failed') => void

/** Answers `p`'s caller, once: with its records, or with the error. */
export function settle (p: Pending, outcome: SealedRecord[] | Error): void {
  if (p.settled) return
  p.settled = true
  clearTimeout(p.timer)
  if (outcome instanceof Error) p.reject(outcome)
  else p.resolve(outcome)
}

/** A group that committed `sealed`: each caller gets its own records, and onCommit is told. */
export function succeed (ctx: Pick<WriterContext, 'stats' | 'options'>, tenantId: string, group: Pending[], sealed: SealedRecord[]): void {
  ctx.stats.groups++
  let at = 0
  for (const p of group) {
    const own = sealed.slice(at, at += p.entries.length)
    if (p.settled && own.length > 0) {
      ctx.stats.lateCommits++
      ctx.options.log?.warn({ tenantId, seq: own[0].seq }, 'record committed after its caller was answered 503')
    }
    settle(p, own)
  }
  const last = sealed[sealed.length - 1]
  if (last === undefined) return
  ctx.stats.records += sealed.length
  ctx.options.onCommit?.(tenantId, { seq: sealed[0].seq - 1, hash: sealed[0].prevHash }, { seq: last.seq, hash: last.hash })
}

/** A group that did not commit: its callers go again if some were answered meanwhile, else all fail. */
export function fail (ctx: Pick<WriterContext, 'heads' | 'stats' | 'options' | 'requeue'>, tenantId: string, group: Pending[], err: unknown, report: Report): void {
  // Whatever was sealed on this group is wrong now; later groups re-read the head.
  ctx.heads.delete(tenantId)
  report('failed')
  // Callers answered 503 while the group was under way (their deadline passed) roll it back;
  // the others still have time and go again. The group is smaller each time, so this ends.
  const live = group.filter((p) => !p.settled)
  const answered = group.some((p) => p.settled && p.refusal === undefined)
  if (live.length > 0 && answered) {
    ctx.stats.requeued += live.length
    ctx.requeue(tenantId, live)
    return
  }
  ctx.stats.failedGroups++
  ctx.options.log?.error({ err, records: group.length }, 'audit group failed to commit')
  const failure = errorCausedBy(err, 'recordDatabaseDown')
  for (const p of group) settle(p, failure)
}
