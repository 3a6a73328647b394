import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { ensureAdminKey } from '../../src/auth/bootstrap.js'
import { createKey, OPERATOR, revokeKey } from '../../src/auth/keys.js'
import { identifyToken } from '../../src/auth/tokens.js'
import { getApiKey } from '../../src/store/api-keys.js'
import { migrate } from '../../src/store/migrate.js'
import { tempDir, testDatabase } from '../helpers.js'

t.test('first start: an admin key whose token is in a 0600 file; later starts leave it be', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  const dataDir = path.join(tempDir(t), 'nested', 'data')
  const first = await ensureAdminKey(db, { dataDir })
  t.match(first, { kind: 'generated', path: path.join(dataDir, 'admin.token') })
  if (first.kind !== 'generated') return
  t.equal(statSync(first.path).mode & 0o777, 0o600)
  const token = readFileSync(first.path, 'utf8').trim()
  const row = await getApiKey(db, identifyToken(token).keyId)
  t.match(row, { key_id: first.keyId, roles: ['admin'], tenants: ['*'], agents: ['**'], kind: 'service', revoked_at: null }, 'a service key: it administers, it never votes')
  t.same(await ensureAdminKey(db, { dataDir }), { kind: 'existing' })
  t.equal(readFileSync(first.path, 'utf8').trim(), token, 'the file is untouched')

  // An admin scoped to one tenant cannot recover everything: it does not count.
  const other = tempDir(t)
  const fresh = await testDatabase(t)
  await migrate(fresh.db)
  await createKey(fresh.db, OPERATOR, { principal_id: 'acme-admin', roles: ['admin'], tenants: ['acme'] })
  t.match(await ensureAdminKey(fresh.db, { dataDir: other }), { kind: 'generated' })
})

t.test('ARBITER_ADMIN_TOKEN: the key is made from it once; a revoked one is not made again', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  const dataDir = tempDir(t)
  const envToken = 'operator-chosen-token-with-enough-entropy-0123456789'
  t.match(await ensureAdminKey(db, { dataDir, envToken }), { kind: 'from-env', created: true, keyId: identifyToken(envToken).keyId })
  t.match(await ensureAdminKey(db, { dataDir, envToken }), { kind: 'from-env', created: false })
  t.throws(() => statSync(path.join(dataDir, 'admin.token')), { code: 'ENOENT' }, 'no token file is written')
  await rejects(t, ensureAdminKey(db, { dataDir, envToken: 'short' }), /at least 43/)
  await createKey(db, OPERATOR, { principal_id: 'other-root', roles: ['admin'], tenants: ['*'] })
  await revokeKey(db, OPERATOR, identifyToken(envToken).keyId)
  t.same(await ensureAdminKey(db, { dataDir, envToken }), { kind: 'env-revoked', keyId: identifyToken(envToken).keyId }, 'a revoked token stays revoked, and the start goes on')
  t.equal((await getApiKey(db, identifyToken(envToken).keyId))?.revoked_by, 'cli')
})

t.test('two instances starting together create one admin key', async (t) => {
  const testDb = await testDatabase(t)
  await migrate(testDb.db)
  const other = await testDb.open()
  const outcomes = await Promise.all([ensureAdminKey(testDb.db, { dataDir: tempDir(t) }), ensureAdminKey(other, { dataDir: tempDir(t) })])
  t.same(outcomes.map((o) => o.kind).sort(), ['existing', 'generated'])
})

t.test('the table keeps every key and lets a key change only by its revocation', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  const k = await createKey(db, OPERATOR, { principal_id: 'p', roles: ['auditor'], tenants: ['acme'] })
  for (const sql of [
    `delete from api_keys where key_id = '${k.key_id}'`,
    `update api_keys set roles = '{admin}' where key_id = '${k.key_id}'`,
    `update api_keys set tenants = '{*}', revoked_at = now(), revoked_by = 'x' where key_id = '${k.key_id}'`,
    'truncate api_keys'
  ]) await rejects(t, db.query(sql), /arbiter: /, sql)
  await db.query(`update api_keys set revoked_at = now(), revoked_by = 'x' where key_id = '${k.key_id}'`)
  await rejects(t, db.query(`update api_keys set revoked_at = null, revoked_by = null where key_id = '${k.key_id}'`), /only be revoked, once/, 'a revocation is final')
})

async function rejects (t: Test, promise: Promise<unknown>, pattern: RegExp, name?: string): Promise<void> {
  await t.rejects(promise, { message: pattern }, name ?? pattern.source)
}
