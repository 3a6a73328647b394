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
 * `filed_at` is raised to it). It waits for the appends under way (their head rows): run it in
 * a transaction of its own, holding no lock on the log, or appends waiting for the log while
 * holding a head would wait on it as it waits on them.
 */
export async function closeBefore (q: Queryable, cut: Date): Promise<void> {
  await q.query(
    `update audit_heads set filed_at = greatest(filed_at, $1),
            filed_until = case when filed_until <= $1 then null else filed_until end`,
    [cut]
  )
}

/** Detaches a partition from the log: from then on nothing is filed in it. */
export async function detachPartition (q: Queryable, name: string): Promise<void> {
  await q.query(`alter table audit_log detach partition ${quoteIdent(name)}`)
}

/**
 * Per log, the last seq a (detached) partition holds: the logs found by skipping through its
 * primary key from one log to the next, each one's last seq by one look-up more, so a month of
 * records is not scanned.
 */
export async function partitionHeads (q: Queryable, name: string): Promise<Map<string, number>> {
  const p = quoteIdent(name)
  const { rows } = await q.query<{ tenant_id: string, seq: number }>(
    `with recursive logs (tenant_id) as (
       (select tenant_id from ${p} order by tenant_id limit 1)
       union all
       select (select x.tenant_id from ${p} x where x.tenant_id > logs.tenant_id order by x.tenant_id limit 1)
         from logs where logs.tenant_id is not null
     )
     select tenant_id, (select max(seq) from ${p} x where x.tenant_id = logs.tenant_id)::int as seq
       from logs where tenant_id is not null`
  )
  return new Map(rows.map((r) => [r.tenant_id, r.seq]))
}

/** Takes a detached partition away: dropped, or with `keep` renamed `archived_<name>`. */
export async function removePartition (q: Queryable, name: string, keep: boolean): Promise<string | undefined> {
  const ident = quoteIdent(name)
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
