import t from 'tap'
import { createKey, OPERATOR, revokeKey } from '../../src/auth/keys.js'
import { KeyLookup } from '../../src/auth/key-lookup.js'
import type { Queryable } from '../../src/store/db.js'
import { migrate } from '../../src/store/migrate.js'
import { testDatabase } from '../helpers.js'

t.test('lookups that arrive together share a query; each still sees what was committed before it', async (t) => {
  const { db } = await testDatabase(t)
  await migrate(db)
  const a = await createKey(db, OPERATOR, { principal_id: 'a', roles: ['auditor'], tenants: ['*'] })
  const b = await createKey(db, OPERATOR, { principal_id: 'b', roles: ['auditor'], tenants: ['*'] })
  const lookup = new KeyLookup(db)

  const rows = await Promise.all(Array.from({ length: 50 }, async (_, i) => await lookup.get(i % 2 === 0 ? a.key_id : b.key_id)))
  t.ok(rows.every((r, i) => r?.principal_id === (i % 2 === 0 ? 'a' : 'b')), 'each caller gets its own key')
  t.ok(lookup.queries <= 2, `50 lookups, ${lookup.queries} queries`)
  t.equal(await lookup.get(`key_${'0'.repeat(16)}`), undefined, 'an unknown id is undefined')

  await revokeKey(db, OPERATOR, a.key_id)
  t.not((await lookup.get(a.key_id))?.revoked_at, null, 'a revocation committed before the lookup is seen by it')

  const many = Array.from({ length: 1200 }, (_, i) => `key_${i.toString(16).padStart(16, '0')}`)
  const before = lookup.queries
  t.same(await Promise.all(many.map(async (id) => await lookup.get(id))), many.map(() => undefined))
  t.ok(lookup.queries - before >= 3, `at most 500 ids a query (${lookup.queries - before} queries)`)
})

t.test('a failing query fails every lookup waiting on it, and the next one starts afresh', async (t) => {
  let fail = true
  const db: Queryable = {
    query: async <R>() => { if (fail) throw new Error('connection refused'); return { rows: [] as R[] } },
    exec: async () => {}
  }
  const lookup = new KeyLookup(db)
  const results = await Promise.allSettled([lookup.get('key_a'), lookup.get('key_b'), lookup.get('key_a')])
  t.same(results.map((r) => r.status), ['rejected', 'rejected', 'rejected'])
  fail = false
  t.equal(await lookup.get('key_a'), undefined)
})
