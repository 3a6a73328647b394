/**
 * A group's appends and how they settle: committed (each caller gets its own records), or failed
 * (every caller fails, unless some were answered meanwhile: then the others go again).
 */
import type { SealedRecord } from '../audit/chain.js'
import { errorCausedBy } from '../errors/index.js'
import type { Pending, Report, WriterContext } from './context.js'

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
      ctx.options.onLateCommit?.(tenantId, own)
    }
    settle(p, own)
  }
  const last = sealed[sealed.length - 1]
  if (last === undefined) return
  ctx.stats.records += sealed.length
  ctx.options.onCommit?.(tenantId, { seq: sealed[0].seq - 1, hash: sealed[0].prevHash }, { seq: last.seq, hash: last.hash })
}

/**
 * A group that did not commit: its callers go again if some were answered meanwhile (or failed
 * it), else all fail.
 */
export function fail (ctx: Pick<WriterContext, 'heads' | 'stats' | 'options' | 'requeue'>, tenantId: string, group: Pending[], err: unknown, report: Report): void {
  // Whatever was sealed on this group is wrong now; later groups re-read the head.
  ctx.heads.delete(tenantId)
  report('failed')
  // Callers answered 503 while the group was under way (their deadline passed) roll it back,
  // and so does a work or opening that failed and took the transaction down (it has its
  // answer); the others still have time and go again. The group is smaller each time, so this ends.
  const live = group.filter((p) => !p.settled)
  const answered = group.some((p) => p.settled && (p.refusal === undefined || p.brokeGroup === true))
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
