import type { PolicySource } from '../policy/types.js'
import type { Queryable } from './db.js'

export interface SnapshotRow {
  snapshot_id: string
  version: string
  canonical: string
  sources: PolicySource[]
  /** The key id of the first trusted key seen to sign it; null while none has. */
  signed_by: string | null
  created_at: Date
}

/** Stores a snapshot once, with the key that signed it if any; storing it again is a no-op. */
export async function saveSnapshot (q: Queryable, s: { snapshotId: string, version: string, canonical: string, sources: readonly PolicySource[] }, signedBy: string | null = null): Promise<void> {
  await q.query(
    `insert into policy_snapshots (snapshot_id, version, canonical, sources, signed_by)
     values ($1, $2, $3, $4::jsonb, $5)
     on conflict (snapshot_id) do nothing`,
    [s.snapshotId, s.version, s.canonical, JSON.stringify(s.sources), signedBy]
  )
}

/**
 * Records the key that signed a snapshot stored unsigned (before signatures were required). A
 * signer once recorded is never replaced: the table's trigger allows no other change.
 */
export async function recordSnapshotSigner (q: Queryable, snapshotId: string, keyId: string): Promise<void> {
  await q.query('update policy_snapshots set signed_by = $2 where snapshot_id = $1 and signed_by is null', [snapshotId, keyId])
}

export async function getSnapshot (q: Queryable, snapshotId: string): Promise<SnapshotRow | undefined> {
  const { rows } = await q.query<SnapshotRow>(
    'select snapshot_id, version, canonical, sources, signed_by, created_at from policy_snapshots where snapshot_id = $1',
    [snapshotId]
  )
  return rows[0]
}

/** The newest signature any policy was accepted under, if one was. */
export async function newestPolicySignature (q: Queryable): Promise<{ key_id: string, signed_at: string } | undefined> {
  const { rows } = await q.query<{ key_id: string, signed_at: Date | string }>('select key_id, signed_at from policy_signatures order by signed_at desc limit 1')
  return rows[0] === undefined ? undefined : { key_id: rows[0].key_id, signed_at: new Date(rows[0].signed_at).toISOString() }
}

/** Records that a snapshot was accepted under a signature (once; again is a no-op). */
export async function recordPolicySignature (q: Queryable, snapshotId: string, keyId: string, signedAt: string): Promise<void> {
  await q.query('insert into policy_signatures (snapshot_id, key_id, signed_at) values ($1, $2, $3) on conflict do nothing', [snapshotId, keyId, signedAt])
}
