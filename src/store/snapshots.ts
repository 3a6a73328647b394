import type { PolicySource } from '../policy/types.js'
import type { Queryable } from './db.js'

export interface SnapshotRow {
  snapshot_id: string
  version: string
  canonical: string
  sources: PolicySource[]
  created_at: Date
}

/** Stores a snapshot once; storing the same snapshot again is a no-op. */
export async function saveSnapshot (q: Queryable, s: { snapshotId: string, version: string, canonical: string, sources: readonly PolicySource[] }): Promise<void> {
  await q.query(
    `insert into policy_snapshots (snapshot_id, version, canonical, sources)
     values ($1, $2, $3, $4::jsonb)
     on conflict (snapshot_id) do nothing`,
    [s.snapshotId, s.version, s.canonical, JSON.stringify(s.sources)]
  )
}

export async function getSnapshot (q: Queryable, snapshotId: string): Promise<SnapshotRow | undefined> {
  const { rows } = await q.query<SnapshotRow>(
    'select snapshot_id, version, canonical, sources, created_at from policy_snapshots where snapshot_id = $1',
    [snapshotId]
  )
  return rows[0]
}
