import t from 'tap'
import { migrate } from '../../src/store/migrate.js'
import { getSnapshot, recordSnapshotSigner, saveSnapshot } from '../../src/store/snapshots.js'
import { testDatabase } from '../helpers.js'

const SNAPSHOT = { snapshotId: 'sha256:01', version: 'v1', canonical: '{}', sources: [{ file: 'a.yaml', text: 'version: v1\n' }] }

t.test('a snapshot records the first key seen to sign it, and never loses it', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  await saveSnapshot(db, SNAPSHOT)
  t.match(await getSnapshot(db, SNAPSHOT.snapshotId), { signed_by: null, sources: SNAPSHOT.sources })
  await saveSnapshot(db, SNAPSHOT, 'ek_00000000000000aa')
  t.match(await getSnapshot(db, SNAPSHOT.snapshotId), { signed_by: null }, 'saving again changes nothing')
  await recordSnapshotSigner(db, SNAPSHOT.snapshotId, 'ek_00000000000000aa')
  t.match(await getSnapshot(db, SNAPSHOT.snapshotId), { signed_by: 'ek_00000000000000aa' }, 'signed after it was stored unsigned')
  await recordSnapshotSigner(db, SNAPSHOT.snapshotId, 'ek_00000000000000bb')
  await saveSnapshot(db, SNAPSHOT)
  t.match(await getSnapshot(db, SNAPSHOT.snapshotId), { signed_by: 'ek_00000000000000aa' }, 'neither another key nor an unsigned load replaces it')

  await saveSnapshot(db, { ...SNAPSHOT, snapshotId: 'sha256:02' }, 'ek_00000000000000cc')
  t.match(await getSnapshot(db, 'sha256:02'), { signed_by: 'ek_00000000000000cc' }, 'signed when first stored')
})

t.test('the table allows no change but recording a missing signer', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  await saveSnapshot(db, SNAPSHOT)
  await saveSnapshot(db, { ...SNAPSHOT, snapshotId: 'sha256:02' }, 'ek_00000000000000aa')
  const attempts: Array<[string, string]> = [
    ['a signer replaced', "update policy_snapshots set signed_by = 'ek_00000000000000bb' where snapshot_id = 'sha256:02'"],
    ['a signer erased', "update policy_snapshots set signed_by = null where snapshot_id = 'sha256:02'"],
    ['the text changed with the signer', "update policy_snapshots set signed_by = 'ek_00000000000000bb', canonical = 'x' where snapshot_id = 'sha256:01'"],
    ['the sources changed with the signer', "update policy_snapshots set signed_by = 'ek_00000000000000bb', sources = '[]' where snapshot_id = 'sha256:01'"],
    ['the text changed alone', "update policy_snapshots set canonical = 'x' where snapshot_id = 'sha256:01'"],
    ['a row deleted', 'delete from policy_snapshots']
  ]
  for (const [name, sql] of attempts) {
    await t.rejects(db.query(sql), /append-only/, name)
    await t.rejects(db.transaction(async (tx) => {
      await tx.query("set local session_replication_role = 'replica'")
      await tx.query(sql)
    }), /append-only/, `${name}, under session_replication_role = replica`)
  }
  t.match(await getSnapshot(db, 'sha256:01'), { canonical: '{}', signed_by: null })
  t.match(await getSnapshot(db, 'sha256:02'), { signed_by: 'ek_00000000000000aa' })
})
