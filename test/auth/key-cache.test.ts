import { performance } from 'node:perf_hooks'
import t, { type Test } from 'tap'
import { createKey, OPERATOR } from '../../src/auth/keys.js'
import { KeyLookup, KEYS_CHANNEL } from '../../src/auth/key-lookup.js'
import { identifyToken } from '../../src/auth/tokens.js'
import type { Database, ListenHandlers } from '../../src/store/db.js'
import { migrate } from '../../src/store/migrate.js'
import { ON_POSTGRES, testApp, testDatabase, type TestApp } from '../helpers.js'

/** The bound a revocation made elsewhere must hold within; measured figures are far below it. */
const BOUND_MS = 2000

// An unknown route still needs a key: 404 with a valid one, 401 without. Nothing else is read.
const PROBE = '/no-such-route'
const status = async (ctx: TestApp, token: string): Promise<number> =>
  (await ctx.app.inject({ url: PROBE, headers: { authorization: `Bearer ${token}` } })).statusCode

/** Milliseconds until `cond` holds; fails the test past `ms`. */
async function until (cond: () => boolean | Promise<boolean>, ms = BOUND_MS): Promise<number> {
  const start = performance.now()
  while (!(await cond())) {
    if (performance.now() - start > ms) throw new Error(`not within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  return performance.now() - start
}

/**
 * Reads `token` until a read makes no key query. A key's creation is announced too, and an answer
 * read while that notification was on its way is not kept (it may predate the change), so the
 * first read or two may go to the database.
 */
async function held (ctx: TestApp, token: string, expected = 404): Promise<number> {
  let reads = 0
  await until(async () => {
    const before = ctx.app.keyLookup.queries
    if (await status(ctx, token) !== expected) throw new Error('unexpected status')
    reads++
    return ctx.app.keyLookup.queries === before
  })
  return reads
}

const revokeBySql = async (db: Database, keyId: string): Promise<void> => {
  await db.query("update api_keys set revoked_at = now(), revoked_by = 'sql' where key_id = $1", [keyId])
}

const summary = (ms: number[]): string => {
  const s = [...ms].sort((a, b) => a - b)
  return `median ${s[Math.floor(s.length / 2)].toFixed(1)} ms, max ${s[s.length - 1].toFixed(1)} ms over ${s.length}`
}

t.test('a second request with the same key makes no key query', async (t) => {
  const ctx = await testApp(t)
  await until(() => ctx.app.keyLookup.caching)
  const token = await ctx.token({ principal_id: 'reader', roles: ['auditor'] })
  t.ok(await held(ctx, token) <= 3, 'held after a read or two')
  const before = ctx.app.keyLookup.queries
  for (let i = 0; i < 10; i++) t.equal(await status(ctx, token), 404)
  t.equal(ctx.app.keyLookup.queries, before, 'answered from memory')
  const unknown = `arb_${'A'.repeat(43)}`
  t.equal(await status(ctx, unknown), 401)
  const after = ctx.app.keyLookup.queries
  t.equal(await status(ctx, unknown), 401, 'an unknown key is refused again')
  t.equal(ctx.app.keyLookup.queries, after, 'without asking again')
})

t.test('a revocation on one instance holds there at once and on another within the bound', async (t) => {
  const a = await testApp(t)
  const b = await testApp(t, { testDb: a.testDb })
  await until(() => a.app.keyLookup.caching && b.app.keyLookup.caching)
  const latencies: number[] = []
  for (let i = 0; i < 10; i++) {
    const token = await a.token({ principal_id: `short-lived-${i}`, roles: ['auditor'] })
    await held(a, token)
    await held(b, token)
    const revoked = await a.app.inject({ method: 'DELETE', url: `/keys/${identifyToken(token).keyId}` })
    t.equal(revoked.statusCode, 200)
    t.equal(await status(a, token), 401, 'refused at once where it was revoked')
    latencies.push(await until(async () => await status(b, token) === 401))
  }
  t.comment(`revoked on a → refused on b (${a.db.kind}): ${summary(latencies)}`)
  t.ok(Math.max(...latencies) < BOUND_MS)
})

t.test('a revocation by SQL from another connection is seen', async (t) => {
  const ctx = await testApp(t)
  const other = await ctx.testDb.open()
  await until(() => ctx.app.keyLookup.caching)
  const latencies: number[] = []
  for (let i = 0; i < 10; i++) {
    const token = await ctx.token({ principal_id: `sql-${i}`, roles: ['auditor'] })
    await held(ctx, token)
    await revokeBySql(other, identifyToken(token).keyId)
    latencies.push(await until(async () => await status(ctx, token) === 401))
  }
  t.comment(`revoked by SQL → refused (${ctx.db.kind}): ${summary(latencies)}`)
})

t.test('with the listener killed, lookups go to the database; then it listens again', { skip: !ON_POSTGRES && 'the embedded database listens in-process' }, async (t) => {
  const ctx = await testApp(t)
  const other = await ctx.testDb.open()
  const keys = ctx.app.keyLookup
  await until(() => keys.caching)
  const token = await ctx.token({ principal_id: 'during-outage', roles: ['auditor'] })
  await held(ctx, token)

  const { rows } = await other.query<{ n: number }>(
    'select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = $1', [`${ctx.testDb.schema as string} listener ${KEYS_CHANNEL}`])
  t.equal(rows[0].n, 1, 'one listener killed')
  const noticed = await until(() => !keys.caching)
  // No notification reaches this instance now: the revocation holds because nothing is cached.
  await revokeBySql(other, identifyToken(token).keyId)
  t.equal(await status(ctx, token), 401, 'a revocation during the outage holds at once')

  const back = await until(() => keys.caching, 10_000)
  t.comment(`listener loss noticed in ${noticed.toFixed(1)} ms, listening again ${back.toFixed(1)} ms later`)
  const fresh = await ctx.token({ principal_id: 'after-outage', roles: ['auditor'] })
  t.ok(await held(ctx, fresh) <= 3, 'caching again')
  await revokeBySql(other, identifyToken(fresh).keyId)
  await until(async () => await status(ctx, fresh) === 401)
})

/** A key on a fresh database, and that database with a listener the test drives by hand. */
async function handDriven (t: Test, query?: (db: Database) => Database['query']): Promise<{ db: Database, driven: Database, listener: () => ListenHandlers, keyId: string }> {
  const { db } = await testDatabase(t)
  await migrate(db)
  const { key_id: keyId } = await createKey(db, OPERATOR, { principal_id: 'k', roles: ['auditor'], tenants: ['*'] })
  let handlers: ListenHandlers | undefined
  const driven: Database = {
    ...db,
    ...(query === undefined ? {} : { query: query(db) }),
    listen: (_channel, h) => { handlers = h; return { close: async () => {} } }
  }
  return { db, driven, listener: () => handlers as ListenHandlers, keyId }
}

t.test('nothing is cached while the listener is out; when it is back the cache starts empty', async (t) => {
  const { db, driven, listener, keyId } = await handDriven(t)
  const lookup = new KeyLookup(driven)
  await lookup.get(keyId, 5000)
  await lookup.get(keyId, 5000)
  t.equal(lookup.queries, 2, 'not listening yet: every lookup is a query')

  listener().state(true)
  await lookup.get(keyId, 5000)
  await lookup.get(keyId, 5000)
  t.equal(lookup.queries, 3, 'listening: one query')

  listener().state(false)
  await revokeBySql(db, keyId)
  t.not((await lookup.get(keyId, 5000))?.revoked_at, null, 'listener lost: the cache is dropped and the database asked')
  await lookup.get(keyId, 5000)
  t.equal(lookup.queries, 5, 'and asked every time')

  listener().state(true)
  await lookup.get(keyId, 5000)
  await lookup.get(keyId, 5000)
  t.equal(lookup.queries, 6, 'back: one query, then memory')
  listener().notify(keyId)
  await lookup.get(keyId, 5000)
  t.equal(lookup.queries, 7, 'a notification forgets the key')
  await lookup.close()
  await lookup.get(keyId, 5000)
  t.equal(lookup.queries, 8, 'closed: no more memory')
})

t.test('an answer older than the max age is read again', async (t) => {
  const { driven, listener, keyId } = await handDriven(t)
  let now = 0
  const lookup = new KeyLookup(driven, { maxAgeMs: 30_000, now: () => now })
  listener().state(true)
  await lookup.get(keyId, 5000)
  now = 29_999
  await lookup.get(keyId, 5000)
  t.equal(lookup.queries, 1, 'young enough')
  now = 30_000
  await lookup.get(keyId, 5000)
  t.equal(lookup.queries, 2, 'too old: read again')
  now = 59_999
  await lookup.get(keyId, 5000)
  t.equal(lookup.queries, 2, 'and held from when it was read')
})

t.test('a query sent before an invalidation does not fill the cache', async (t) => {
  let gate: Promise<void> = Promise.resolve()
  const { driven, listener, keyId } = await handDriven(t, (db) => async <R>(text: string, params?: unknown[], name?: string) => {
    await gate
    return await db.query<R>(text, params, name)
  })
  const lookup = new KeyLookup(driven)
  listener().state(true)
  let open!: () => void
  gate = new Promise((resolve) => { open = resolve })
  const first = lookup.get(keyId, 5000)
  // The key changes while the query is on its way: its answer may predate the change.
  lookup.invalidate(keyId)
  open()
  await first
  await lookup.get(keyId, 5000)
  t.equal(lookup.queries, 2, 'the answer was not kept')
  await lookup.get(keyId, 5000)
  t.equal(lookup.queries, 2, 'the next one is')
})
