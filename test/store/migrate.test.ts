import { mkdtempSync, readFileSync, writeFileSync, cpSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { MIGRATIONS_DIR } from '../../src/paths.js'
import { migrate } from '../../src/store/migrate.js'
import { ON_POSTGRES, testDatabase } from '../helpers.js'

t.test('migrations apply once, in order, and a second run applies nothing', async (t) => {
  const { db } = await testDatabase(t)
  const first = await migrate(db)
  t.ok(first.length >= 1)
  t.same(first, [...first].sort())
  t.same(await migrate(db), [], 'migrating twice is a no-op')
  const { rows } = await db.query<{ name: string }>('select name from schema_migrations order by version')
  t.same(rows.map((r) => r.name), first)
})

t.test('two instances starting together apply each migration exactly once', { skip: !ON_POSTGRES && 'the embedded database has a single backend' }, async (t) => {
  const { db, open } = await testDatabase(t)
  const other = await open()
  const results = await Promise.all([migrate(db), migrate(other), migrate(db)])
  const applied = results.flat()
  t.equal(applied.length, new Set(applied).size, 'no migration applied twice')
  t.ok(applied.length >= 1)
})

t.test('an edited landed migration is refused; a failing one rolls back', async (t) => {
  const { db } = await testDatabase(t)
  const dir = mkdtempSync(path.join(tmpdir(), 'arbiter-mig-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(MIGRATIONS_DIR, dir, { recursive: true })
  await migrate(db, dir)
  const first = path.join(dir, '0001_audit_log.sql')
  writeFileSync(first, readFileSync(first, 'utf8') + '\n-- edited\n')
  await t.rejects(migrate(db, dir), /changed after it was applied/)

  cpSync(MIGRATIONS_DIR, dir, { recursive: true })
  writeFileSync(path.join(dir, '9999_broken.sql'), 'create table half_done (a int);\nselect nonsense from nowhere;\n')
  await t.rejects(migrate(db, dir), /9999_broken\.sql failed/)
  const { rows } = await db.query<{ n: number }>("select count(*)::int as n from information_schema.tables where table_name = 'half_done' and table_schema = current_schema()")
  t.equal(rows[0].n, 0, 'the failed migration left nothing behind')
  const { rows: recorded } = await db.query('select 1 from schema_migrations where version = $1', ['9999'])
  t.equal(recorded.length, 0)
})
