/**
 * When a group's commit answer is lost, whether it committed is asked of the server on another
 * connection; what cannot be learned is counted in doubt and logged, and the group is failed.
 */
import type { SealedRecord } from '../audit/chain.js'
import { backendBusy, hasRecord, transactionStatus } from '../store/log-append.js'
import type { WriterContext } from './context.js'

type Recovery = Pick<WriterContext, 'db' | 'stats' | 'options'>

/**
 * Resolves a lost COMMIT answer by asking the server, on another connection, what became of
 * the group's transaction — waiting while it is still in progress (the server may be finishing
 * the commit after the client lost the socket).
 */
export async function landed (ctx: Recovery, tenantId: string, sealed: SealedRecord[], xid: string | undefined): Promise<boolean> {
  if (sealed.length === 0 || xid === undefined) return false
  return await resolveLost(ctx, tenantId, sealed, new Error('still in progress'), async () => {
    const status = await transactionStatus(ctx.db, xid)
    return status === 'in progress' ? undefined : status === 'committed'
  })
}

/**
 * Resolves a lost answer to a group's one statement: once the server process that ran it is
 * no longer busy (it may be finishing the commit after the socket was lost), the group
 * committed if and only if its last record is in the log.
 */
export async function landedAlone (ctx: Recovery, tenantId: string, records: SealedRecord[], pid: number | undefined, cause: unknown): Promise<boolean> {
  // Without the process (the embedded database, or a connection that never told it) there is
  // nothing to wait for, and a record read now could still commit: the group is in doubt.
  if (pid === undefined) return inDoubt(ctx, tenantId, records, cause)
  const last = records[records.length - 1]
  return await resolveLost(ctx, tenantId, records, cause, async () =>
    await backendBusy(ctx.db, pid) ? undefined : await hasRecord(ctx.db, tenantId, last.seq, last.hash))
}

/**
 * Asks `probe` (on another connection) whether a group whose answer was lost committed, every
 * 20 ms while it cannot tell yet, for up to a second; if that cannot be learned, the group is
 * in doubt.
 */
async function resolveLost (ctx: Recovery, tenantId: string, sealed: SealedRecord[], cause: unknown, probe: () => Promise<boolean | undefined>): Promise<boolean> {
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
  return inDoubt(ctx, tenantId, sealed, lastErr)
}

/** Counts and logs a group whose commit could not be learned; it is failed (false). */
function inDoubt (ctx: Recovery, tenantId: string, sealed: SealedRecord[], err: unknown): false {
  ctx.stats.inDoubt += sealed.length
  ctx.options.log?.error({ err, tenantId, fromSeq: sealed[0].seq, toSeq: sealed[sealed.length - 1].seq }, 'commit outcome unknown and unreadable: these records may be in the log although their callers were answered 503')
  return false
}
