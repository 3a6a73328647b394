/**
 * The audit log's time partitions (migrations/0013): made ahead of the clock by the server, and
 * taken out whole by `arbiter audit archive` (src/ledger/archive.ts), which also keeps what it
 * took out in signed statements (`audit_archives`).
 */
import type { Archived } from '../audit/archive.js'
import type { Queryable } from './db.js'

export type PartitionUnit = 'month' | 'day'

/** Periods made ahead of the current one: a server down for less than this never leaves appends to make their own. */
export const PARTITIONS_AHEAD: Record<PartitionUnit, number> = { month: 2, day: 7 }

export interface Partition {
  name: string
  /** The range of `filed_at` it holds: [lo, hi); lo is null for the first (from the start of time). */
  lo: Date | null
  hi: Date
}

/** The start of the UTC period `n` periods after the one holding `at`. */
export function periodStart (at: Date, unit: PartitionUnit, n = 0): Date {
  return unit === 'month'
    ? new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + n, 1))
    : new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + n))
}

/** Makes the partitions of the period holding `now` and the next PARTITIONS_AHEAD ones, where missing; returns those it made. */
export async function ensurePartitions (q: Queryable, now: Date, unit: PartitionUnit): Promise<string[]> {
  const before = new Set((await listPartitions(q)).map((p) => p.name))
  // Each period whole: a partition made earlier inside it (an append's own day) leaves gaps either side.
  for (let at = periodStart(now, unit), end = periodStart(now, unit, PARTITIONS_AHEAD[unit] + 1); at < end;) {
    const { rows } = await q.query<{ hi: Date }>('select arbiter_audit_partition($1, $2) as hi', [at, unit])
    at = rows[0].hi
  }
  return (await listPartitions(q)).map((p) => p.name).filter((name) => !before.has(name))
}

export async function listPartitions (q: Queryable): Promise<Partition[]> {
  const { rows } = await q.query<Partition>("select name, case when lo = '-infinity' then null else lo end as lo, hi from audit_partitions order by audit_partitions.lo")
  return rows
}

/** Per log: its last record filed before `cut` (0 when none), and whether one at or below it is filed after. */
export interface LogCut {
  tenant_id: string
  seq: number
  /** Records at or below `seq` filed at or after the cut: they would be split from their chain. */
  straddling: number
}

/**
 * Where each log would be cut at time `cut`, by one index look-up per log and partition (no
 * scan of the partitions): the log's records filed before it are a prefix of the log, by
 * `filed_at` never running backwards within a log, and `straddling` says so.
 */
export async function logCuts (q: Queryable, cut: Date): Promise<LogCut[]> {
  const { rows } = await q.query<LogCut>(
    `select c.tenant_id, c.seq,
            (select count(*)::int from audit_log l where l.tenant_id = c.tenant_id and l.seq <= c.seq and l.filed_at >= $1) as straddling
       from (select h.tenant_id,
                    coalesce((select max(seq) from audit_log l where l.tenant_id = h.tenant_id and l.filed_at < $1), 0)::int as seq
               from audit_heads h) c
      order by c.tenant_id`,
    [cut]
  )
  return rows
}

/** The newest archive statement of each log (of `tenant` when given). */
export async function latestArchives (q: Queryable, tenant?: string): Promise<Map<string, Archived>> {
  const { rows } = await q.query<Omit<Archived, 'before' | 'at'> & { before: Date, at: Date }>(
    `select distinct on (tenant_id) tenant_id, seq::int as seq, head_hash, before, at, key_id, statement, signature
       from audit_archives where $1::text is null or tenant_id = $1 order by tenant_id, seq desc`,
    [tenant ?? null]
  )
  return new Map(rows.map((r) => [r.tenant_id, { ...r, before: r.before.toISOString(), at: r.at.toISOString() }]))
}

export async function insertArchive (q: Queryable, a: Archived): Promise<void> {
  await q.query(
    'insert into audit_archives (tenant_id, seq, head_hash, before, at, key_id, statement, signature) values ($1, $2, $3, $4, $5, $6, $7, $8)',
    [a.tenant_id, a.seq, a.head_hash, a.before, a.at, a.key_id, a.statement, a.signature]
  )
}

/**
 * Closes the logs at `cut` for good: no append after this files a record before it (each log's
 * `filed_at` is raised to it). Locks every log's head until the transaction ends, waiting for
 * the appends under way: run it first in the transaction that takes partitions out.
 */
export async function closeBefore (q: Queryable, cut: Date): Promise<void> {
  await q.query(
    `update audit_heads set filed_at = greatest(filed_at, $1),
            filed_until = case when filed_until <= $1 then null else filed_until end`,
    [cut]
  )
}

/** Takes a partition out of the log: dropped, or with `keep` detached and renamed `archived_<name>`. */
export async function removePartition (q: Queryable, name: string, keep: boolean): Promise<string | undefined> {
  const ident = quoteIdent(name)
  await q.query(`alter table audit_log detach partition ${ident}`)
  let kept: string | undefined
  if (keep) {
    kept = `archived_${name}`.slice(0, 63)
    await q.query(`alter table ${ident} rename to ${quoteIdent(kept)}`)
  } else {
    await q.query(`drop table ${ident}`)
  }
  await q.query('delete from audit_partitions where name = $1', [name])
  return kept
}

function quoteIdent (name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}
