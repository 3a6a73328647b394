/**
 * Forward-only migrations: `migrations/NNNN_name.sql`, applied in order, each in its own
 * transaction, recorded with a checksum, serialized by an advisory lock so that two instances
 * starting together apply each file exactly once.
 */
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { MIGRATIONS_DIR } from '../paths.js'
import type { Database } from './db.js'

export interface Migration {
  version: string
  name: string
  sql: string
  checksum: string
}

export async function readMigrations (dir: string): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort()
  return await Promise.all(files.map(async (file) => {
    const sql = await readFile(path.join(dir, file), 'utf8')
    return { version: file.slice(0, 4), name: file, sql, checksum: createHash('sha256').update(sql).digest('hex') }
  }))
}

/** Applies pending migrations; returns the names it applied. Refuses an edited landed migration. */
export async function migrate (db: Database, dir = MIGRATIONS_DIR): Promise<string[]> {
  const migrations = await readMigrations(dir)
  return await db.session(async (c) => {
    await c.query("select pg_advisory_lock(hashtext('arbiter.migrate.' || current_schema()))")
    try {
      await c.exec(`create table if not exists schema_migrations (
        version text primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now()
      )`)
      const { rows } = await c.query<{ version: string, name: string, checksum: string }>('select version, name, checksum from schema_migrations')
      const applied = new Map(rows.map((r) => [r.version, r]))
      const done: string[] = []
      for (const m of migrations) {
        const landed = applied.get(m.version)
        if (landed !== undefined) {
          if (landed.checksum !== m.checksum) throw new Error(`migration ${m.name} changed after it was applied (as ${landed.name}); add a new migration instead`)
          continue
        }
        await c.query('begin')
        try {
          await c.exec(m.sql)
          await c.query('insert into schema_migrations (version, name, checksum) values ($1, $2, $3)', [m.version, m.name, m.checksum])
          await c.query('commit')
        } catch (err) {
          await c.query('rollback')
          throw new Error(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err })
        }
        done.push(m.name)
      }
      return done
    } finally {
      await c.query("select pg_advisory_unlock(hashtext('arbiter.migrate.' || current_schema()))")
    }
  })
}
