/**
 * Groups are sealed ahead: each onto the head the group sealed before it will leave, so several
 * are under way at once; each is sent once the one before has returned. A group sealed ahead is
 * one statement that appends, moves the head and commits (one round trip); the append moves the
 * head only from where the group was sealed, so a wrong guess (another instance appended, an
 * earlier group failed) is sealed again under the lock, in a transaction, never forked.
 */
import { sealRecord, type HmacSigningKey, type SealedRecord } from '../audit/chain.js'
import type { Head, Pending, WriterContext } from './context.js'
import type { Signal } from './lane.js'

/** A group sealed ahead: the head it was sealed on, and its records. */
export interface Predicted {
  from: Head
  records: SealedRecord[]
}

type Sealer = Pick<WriterContext, 'heads' | 'key'>

/**
 * Seals a group onto the head the most recently sealed group will leave, so it can be on its
 * way while that one commits. If that head turns out wrong (that group failed, or another
 * instance appended), the guarded append refuses and the group is sealed again.
 */
export function predict (ctx: Sealer, tenantId: string, live: Pending[], appended: Signal): Predicted | undefined {
  const from = ctx.heads.get(tenantId)
  if (from === undefined) return undefined
  return { from, records: sealOn(ctx, tenantId, live, from, appended) }
}

/**
 * Seals `group` onto `from` and makes its end the head later groups are sealed on; `appended`
 * fires when this group's append has returned.
 */
export function sealOn (ctx: Sealer, tenantId: string, group: Pending[], from: Head, appended: Signal): SealedRecord[] {
  const records = seal(group, from, ctx.key)
  const last = records[records.length - 1]
  ctx.heads.set(tenantId, last === undefined ? from : { seq: last.seq, hash: last.hash, appended })
  return records
}

/** Seals the entries of `live`, in order, onto `head`. */
export function seal (live: Pending[], head: Head, key: HmacSigningKey): SealedRecord[] {
  let prev = head.hash
  return live.flatMap((p) => p.entries).map((entry, i) => {
    const r = sealRecord(entry, head.seq + i + 1, prev, key)
    prev = r.hash
    return r
  })
}
