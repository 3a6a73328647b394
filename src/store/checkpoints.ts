import type { Checkpoint } from '../audit/checkpoint.js'
import type { Queryable } from './db.js'

export async function insertCheckpoint (q: Queryable, c: Checkpoint): Promise<void> {
  await q.query(
    `insert into audit_checkpoints (tenant_id, seq, head_hash, at, key_id, statement, signature)
     values ($1, $2, $3, $4, $5, $6, $7) on conflict (tenant_id, seq) do nothing`,
    [c.tenant_id, c.seq, c.head_hash, c.at, c.key_id, c.statement, c.signature]
  )
}

interface CheckpointRow extends Omit<Checkpoint, 'at'> { at: Date | string }

const SELECT = 'select tenant_id, seq::int as seq, head_hash, at, key_id, statement, signature from audit_checkpoints'

function toCheckpoint (r: CheckpointRow): Checkpoint {
  // The statement holds the signed time; the column is a copy of it.
  return { ...r, at: (JSON.parse(r.statement) as { at: string }).at }
}

/** Checkpoints of one log with seq in [from, to], oldest first. */
export async function listCheckpoints (q: Queryable, tenantId: string, from = 1, to = Number.MAX_SAFE_INTEGER, limit = 1000): Promise<Checkpoint[]> {
  const { rows } = await q.query<CheckpointRow>(`${SELECT} where tenant_id = $1 and seq >= $2 and seq <= $3 order by seq limit $4`, [tenantId, from, to, limit])
  return rows.map(toCheckpoint)
}

/** The newest checkpoint of a log at or below `maxSeq`. */
export async function latestCheckpoint (q: Queryable, tenantId: string, maxSeq: number): Promise<Checkpoint | undefined> {
  const { rows } = await q.query<CheckpointRow>(`${SELECT} where tenant_id = $1 and seq <= $2 order by seq desc limit 1`, [tenantId, maxSeq])
  return rows[0] === undefined ? undefined : toCheckpoint(rows[0])
}

/** The newest checkpoint of each log (of `tenants` when given), in tenant order. */
export async function newestCheckpoints (q: Queryable, tenants?: readonly string[]): Promise<Checkpoint[]> {
  const { rows } = await q.query<CheckpointRow>(
    `select distinct on (tenant_id) tenant_id, seq::int as seq, head_hash, at, key_id, statement, signature from audit_checkpoints
     where $1::text[] is null or tenant_id = any($1) order by tenant_id, seq desc`,
    [tenants ?? null]
  )
  return rows.map(toCheckpoint)
}

/** The newest checkpoint of each log (for deciding when the next is due). */
export async function latestCheckpoints (q: Queryable): Promise<Map<string, number>> {
  const { rows } = await q.query<{ tenant_id: string, seq: number }>('select tenant_id, max(seq)::int as seq from audit_checkpoints group by tenant_id')
  return new Map(rows.map((r) => [r.tenant_id, r.seq]))
}

export interface CheckpointLag {
  tenant_id: string
  /** Records in the log past its newest checkpoint (all of them when it has none). */
  uncovered: number
  /** When the newest checkpoint was signed; null when the log has none. */
  at: Date | string | null
}

/** For each log with records: how far its newest checkpoint is behind the head, in records and time. */
export async function checkpointLags (q: Queryable): Promise<CheckpointLag[]> {
  const { rows } = await q.query<CheckpointLag>(
    `select h.tenant_id, (h.seq - coalesce(c.seq, 0))::int as uncovered, c.at
       from audit_heads h
       left join lateral (select seq, at from audit_checkpoints where tenant_id = h.tenant_id order by seq desc limit 1) c on true
      where h.seq > 0`
  )
  return rows
}

export interface KeyRow {
  key_id: string
  algorithm: 'ed25519' | 'hmac-sha256'
  public_key: string | null
  valid_from: Date | string
}

/** Publishes a key (its public half, or for HMAC only its id); a key is published once. */
export async function registerKey (q: Queryable, key: { id: string, algorithm: KeyRow['algorithm'], publicKey: string | null }): Promise<void> {
  await q.query('insert into audit_keys (key_id, algorithm, public_key) values ($1, $2, $3) on conflict (key_id) do nothing', [key.id, key.algorithm, key.publicKey])
}

export async function listKeys (q: Queryable): Promise<KeyRow[]> {
  const { rows } = await q.query<KeyRow>('select key_id, algorithm, public_key, valid_from from audit_keys order by valid_from, key_id')
  return rows
}
