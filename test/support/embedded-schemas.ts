/**
 * On the embedded database, every test of a file shares one PGlite instance, each in a schema of
 * its own. Starting PGlite (initdb in WASM) costs seconds, and tests asked for dozens of
 * databases a file; a schema costs milliseconds. PGlite has a single backend, so the schemas take
 * turns: each call runs alone, after switching the backend's search_path to its schema, and a
 * transaction or session holds the backend until it ends, as a PGlite of its own would.
 *
 * The instance is closed when the file's last test has ended: PGlite arms a 10-second timer of
 * Postgres's own (the statistics flush) after a statement, and while it is open that timer alone
 * keeps the process alive, ten idle seconds for every test file.
 */
import { PGlite } from '@electric-sql/pglite'
import { cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { existsSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import type { Database, Queryable } from '../../src/store/db.js'
import { openEmbedded } from '../../src/store/db.js'
import { PACKAGE_ROOT } from '../../src/paths.js'

const PGLITE_VERSION = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'node_modules/@electric-sql/pglite/package.json'), 'utf8')) as { version: string }).version
/**
 * An empty cluster, made once per PGlite version and loaded by every later test process. The
 * suffix names how it is made: a cluster made another way is another file.
 */
const TEMPLATE = path.join(os.tmpdir(), `arbiter-test-pglite-${PGLITE_VERSION}-${process.getuid?.() ?? 0}-lean.tar`)

/**
 * The cluster a test file starts from. Loading a dump takes about a second where initdb takes
 * four; the first process to need one makes it (written aside, then renamed into place, so a
 * process beside it reads a whole dump or none).
 */
async function template (): Promise<Blob> {
  try {
    return new Blob([await readFile(TEMPLATE)])
  } catch {
    const fresh = await PGlite.create('memory://')
    // Tests use the postgres database alone: without the two templates the dump is a fifth
    // smaller, and every test process loads it.
    for (const name of ['template0', 'template1']) {
      await fresh.exec(`update pg_database set datistemplate = false where datname = '${name}'`)
      await fresh.exec(`drop database ${name}`)
    }
    await fresh.exec('checkpoint')
    const dump = await fresh.dumpDataDir('none')
    await fresh.close()
    const aside = `${TEMPLATE}.${process.pid}`
    await writeFile(aside, Buffer.from(await dump.arrayBuffer()))
    await rename(aside, TEMPLATE)
    return dump
  }
}

/** An empty cluster on disk, made once per PGlite version from the dump above. */
const CLUSTER = path.join(os.tmpdir(), `arbiter-test-pgdata-${PGLITE_VERSION}-${process.getuid?.() ?? 0}-lean`)

/**
 * Puts an empty embedded cluster at `dir` (a DATA_DIR's `pgdata`), as `arbiter serve` or a CLI
 * command would find after an earlier start. Making one from nothing is initdb in WASM, about
 * 8 s of CPU; copying one made earlier takes a tenth of a second. The tests that are about a
 * first start on an empty DATA_DIR do not use this.
 */
export async function seedEmbeddedCluster (dir: string): Promise<void> {
  if (!existsSync(CLUSTER)) {
    const aside = `${CLUSTER}.${process.pid}`
    await mkdir(aside, { recursive: true, mode: 0o700 })
    const db = await PGlite.create({ dataDir: aside, loadDataDir: await template() })
    await db.close()
    // A process beside this one may have put its own in place first: either is whole.
    await rename(aside, CLUSTER).catch(async () => { await rm(aside, { recursive: true, force: true }) })
  }
  await cp(CLUSTER, dir, { recursive: true })
}

let shared: Promise<Database> | undefined
let current: string | undefined
let tail: Promise<unknown> = Promise.resolve()

async function instance (): Promise<Database> {
  if (shared === undefined) {
    const opening = template().then(async (dump) => await openEmbedded('memory://', dump))
    shared = opening
    t.teardown(async () => { await (await opening).close() })
  }
  return await shared
}

/** Runs `fn` alone on the shared instance with `schema` first on the search path. */
async function inTurn<T> (schema: string, fn: (db: Database) => Promise<T>): Promise<T> {
  const run = tail.then(async () => {
    const db = await instance()
    if (current !== schema) {
      await db.exec(`set search_path to ${schema}`)
      current = schema
    }
    return await fn(db)
  })
  tail = run.catch(() => {})
  return await run
}

/**
 * A fresh schema on the shared instance, as a Database of its own. `close` makes it refuse
 * every later call, as a closed PGlite would; `drop` removes the schema and its data.
 */
export async function embeddedSchema (): Promise<{ db: Database, drop: () => Promise<void> }> {
  const schema = `t_${Math.random().toString(36).slice(2, 10)}`
  await (await instance()).exec(`create schema ${schema}`)
  let closed = false
  const turn = async <T>(fn: (db: Database) => Promise<T>): Promise<T> => {
    if (closed) throw new Error('PGlite is closed')
    return await inTurn(schema, fn)
  }
  const db: Database = {
    kind: 'embedded',
    query: async <R>(text: string, params?: unknown[]) => await turn(async (d) => await d.query<R>(text, params)),
    exec: async (script: string) => { await turn(async (d) => { await d.exec(script) }) },
    transaction: async (fn, options) => await turn(async (d) => await d.transaction(fn, options)),
    session: async <T>(fn: (c: Queryable) => Promise<T>) => await turn(async (d) => await d.session(fn)),
    // Notifications are the instance's, not the schema's: a test hears its neighbours' too, as
    // installations sharing a Postgres database do.
    listen: (channel, handlers) => {
      const listening = turn(async (d) => (d.listen as NonNullable<Database['listen']>)(channel, handlers))
      return { close: async () => { await (await listening.catch(() => undefined))?.close() } }
    },
    close: async () => { closed = true }
  }
  return {
    db,
    drop: async () => {
      closed = true
      await inTurn(schema, async (d) => {
        await d.exec(`set search_path to public; drop schema ${schema} cascade`)
        current = 'public'
      })
    }
  }
}
