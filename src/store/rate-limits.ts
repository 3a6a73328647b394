/**
 * Sliding-window counting for rate-limited rules. Admission of one job under all its keys is
 * one transaction holding an advisory lock per key, so instances sharing the database admit
 * exactly `max` jobs per window between them.
 */
import type { RateLimitUse } from '../policy/index.js'
import type { Database, Queryable } from './db.js'

export interface Admission {
  tenantId: string
  jobId: string
  jobHash: string
  uses: readonly RateLimitUse[]
  now: Date
}

/**
 * Counts the job under every key, or under none: when any key is over its limit, nothing is
 * counted and the answer maps each such rule to the milliseconds until its window frees a slot.
 * A job already counted within a window is not counted again.
 */
export async function admitJob (db: Database, a: Admission, timeoutMs: number): Promise<Map<string, number>> {
  return await db.transaction(async (tx) => {
    // Every key's lock in one statement, in the order of the lock ids themselves: two jobs
    // sharing keys never wait on each other in a circle.
    await tx.query(
      `select count(pg_advisory_xact_lock(hashtext('arbiter.rate_limit'), h))
       from (select distinct hashtext(k) as h from unnest($1::text[]) as k order by h) as ordered`,
      [a.uses.map(lockName)], 'rate-limit-lock'
    )
    const exceeded = new Map<string, number>()
    const toCount: RateLimitUse[] = []
    for (const use of a.uses) {
      const wait = await readWindow(tx, use, a)
      if (wait === 'counted') continue
      if (wait === 'free') toCount.push(use)
      else exceeded.set(use.rule_id, Math.max(exceeded.get(use.rule_id) ?? 0, wait))
    }
    if (exceeded.size > 0) return exceeded
    for (const use of toCount) {
      await tx.query(
        'insert into rate_limit_hits (rule_id, key, tenant_id, job_id, job_hash, at) values ($1, $2, $3, $4, $5, $6)',
        [use.rule_id, use.key, a.tenantId, a.jobId, a.jobHash, a.now], 'rate-limit-count'
      )
    }
    return exceeded
  }, { timeoutMs })
}

function lockName (use: RateLimitUse): string {
  return `${use.rule_id}\n${use.key}`
}

/** Reads one (locked) key's window: already counted, a free slot, or the wait for one. */
async function readWindow (tx: Queryable, use: RateLimitUse, a: Admission): Promise<'counted' | 'free' | number> {
  const since = new Date(a.now.getTime() - use.window_sec * 1000)
  // Rows that fell out of the window are spent: deleting them keeps a busy key's rows bounded.
  await tx.query('delete from rate_limit_hits where rule_id = $1 and key = $2 and at <= $3', [use.rule_id, use.key, since], 'rate-limit-prune')
  // The next slot frees when the (used - max + 1)th oldest admission leaves the window.
  const { rows } = await tx.query<{ used: number, counted: boolean, frees_from_ms: number | null }>(
    `select count(*)::int as used, coalesce(bool_or(tenant_id = $3 and job_id = $4 and job_hash = $6), false) as counted,
       (array_agg(extract(epoch from at)::float8 * 1000 order by at))[greatest(count(*)::int - $5::int + 1, 1)] as frees_from_ms
     from rate_limit_hits where rule_id = $1 and key = $2`,
    [use.rule_id, use.key, a.tenantId, a.jobId, use.max, a.jobHash], 'rate-limit-read'
  )
  const { used, counted, frees_from_ms: freesFrom } = rows[0]
  if (counted) return 'counted'
  if (used < use.max) return 'free'
  return Math.max(1, Math.ceil(Number(freesFrom) + use.window_sec * 1000 - a.now.getTime()))
}

/** The longest window a rule may have (policy.schema.json's rate_limit.window_sec maximum). */
export const MAX_WINDOW_SEC = 86_400

/**
 * Deletes admissions older than any window: a key that is never used again would otherwise
 * keep its rows (a busy key prunes its own). Returns how many went.
 */
export async function pruneRateLimits (q: Queryable, now: Date): Promise<number> {
  const { rows } = await q.query<{ n: number }>(
    'with gone as (delete from rate_limit_hits where at <= $1 returning 1) select count(*)::int as n from gone',
    [new Date(now.getTime() - MAX_WINDOW_SEC * 1000)]
  )
  return rows[0].n
}
