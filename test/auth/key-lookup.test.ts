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

  const rows = await Promise.all(Array.from({ length: 50 }, async (_, i) => await lookup.get(i % 2 === 0 ? a.key_id : b.key_id, 5000)))
  t.ok(rows.every((r, i) => r?.principal_id === (i % 2 === 0 ? 'a' : 'b')), 'each caller gets its own key')
  t.ok(lookup.queries <= 4, `50 lookups, ${lookup.queries} queries`)
  t.equal(await lookup.get(`key_${'0'.repeat(16)}`, 5000), undefined, 'an unknown id is undefined')

  await revokeKey(db, OPERATOR, a.key_id)
  t.not((await lookup.get(a.key_id, 5000))?.revoked_at, null, 'a revocation committed before the lookup is seen by it')

  const many = Array.from({ length: 1200 }, (_, i) => `key_${i.toString(16).padStart(16, '0')}`)
  const before = lookup.queries
  t.same(await Promise.all(many.map(async (id) => await lookup.get(id, 5000))), many.map(() => undefined))
  t.ok(lookup.queries - before >= 3, `at most 500 ids a query (${lookup.queries - before} queries)`)
})

t.test('a failing query fails every lookup waiting on it, and the next one starts afresh', async (t) => {
  let fail = true
  const db: Queryable = {
    query: async <R>() => { if (fail) throw new Error('connection refused'); return { rows: [] as R[] } },
    exec: async () => {}
  }
  const lookup = new KeyLookup(db)
  const results = await Promise.allSettled([lookup.get('key_a', 5000), lookup.get('key_b', 5000), lookup.get('key_a', 5000)])
  t.same(results.map((r) => r.status), ['rejected', 'rejected', 'rejected'])
  fail = false
  t.equal(await lookup.get('key_a', 5000), undefined)
})

t.test('callers that give up leave the queue; a stalled query holds only its own batch', async (t) => {
  let release!: () => void
  const stalled = new Promise<void>((resolve) => { release = resolve })
  let calls = 0
  const db: Queryable = {
    query: async <R>() => { if (calls++ === 0) await stalled; return { rows: [] as R[] } },
    exec: async () => {}
  }
  const lookup = new KeyLookup(db)
  const first = lookup.get('key_a', 50)
  await t.rejects(first, /no answer within 50 ms/, 'the stalled lookup times out')
  t.equal(await lookup.get('key_b', 1000), undefined, 'a later lookup runs beside the stalled query')
  const waiting = Array.from({ length: 20 }, async () => await lookup.get('key_c', 1))
  await Promise.allSettled(waiting)
  release()
  t.equal(await lookup.get('key_d', 1000), undefined, 'and after it')
})
