/**
 * Test plumbing: a throwaway database per test file (a schema on the Postgres server named by
 * DATABASE_URL, or an in-memory embedded database), and an app built on it.
 */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { randomBytes } from 'node:crypto'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import pino from 'pino'
import { Writable } from 'node:stream'
import type { Test } from 'tap'
import { buildApp, type AppDeps } from '../src/app.js'
import { ChainVerifier } from '../src/audit/chain.js'
import { readLog } from '../src/store/log-read.js'
import { createKey, OPERATOR, type KeyRequest } from '../src/auth/keys.js'
import { loadCheckpointKey } from '../src/audit/checkpoint-key.js'
import { loadHmacKey } from '../src/audit/hmac-key.js'
import { loadConfig, type Config } from '../src/config.js'
import { openPostgres, type Database } from '../src/store/db.js'
import { PACKAGE_ROOT } from '../src/paths.js'
import { embeddedSchema, seedEmbeddedCluster } from './support/embedded-schemas.js'

export const DATABASE_URL = process.env.DATABASE_URL
export const ON_POSTGRES = DATABASE_URL !== undefined && DATABASE_URL !== ''
export const EXAMPLE_POLICY_DIR = path.join(PACKAGE_ROOT, 'policies')

export interface TestDb {
  db: Database
  /** Opens another connection pool on the same data (a second Arbiter instance). */
  open: () => Promise<Database>
  schema?: string
}

/** A fresh, empty database for this test, dropped when the test ends. */
export async function testDatabase (t: Test): Promise<TestDb> {
  if (!ON_POSTGRES) {
    const { db, drop } = await embeddedSchema()
    t.teardown(drop)
    return { db, open: async () => db }
  }
  const schema = `arbiter_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: DATABASE_URL })
  await admin.connect()
  await admin.query(`create schema ${schema}`)
  await admin.end()
  const opened: Database[] = []
  const open = async (): Promise<Database> => {
    const db = openPostgres(DATABASE_URL as string, { schema, max: 5, applicationName: schema })
    opened.push(db)
    return db
  }
  const db = await open()
  t.teardown(async () => {
    for (const d of opened) await d.close().catch(() => {})
    const c = new pg.Client({ connectionString: DATABASE_URL })
    await c.connect()
    await c.query(`drop schema ${schema} cascade`)
    await c.end()
  })
  return { db, open, schema }
}

/**
 * A DATABASE_URL for a child process or a CLI command that opens its own connections: a fresh
 * schema on the server, dropped afterwards; undefined on the embedded database.
 */
export async function isolatedDatabaseUrl (t: Test): Promise<string | undefined> {
  if (!ON_POSTGRES) return undefined
  const { schema } = await testDatabase(t)
  const url = new URL(DATABASE_URL as string)
  url.searchParams.set('options', `-c search_path=${schema as string}`)
  return url.href
}

/**
 * Holds `lock table <table> in <mode> mode` on another connection until the returned function is
 * called: with the default, statements on the table wait, as on a stalled server; `row
 * exclusive` is what a transaction that has appended holds, `access share` one that has read.
 * On the embedded database the open transaction holds its single backend, so everything waits.
 */
export async function holdTableLock (testDb: TestDb, table: string, mode: 'access exclusive' | 'row exclusive' | 'access share' = 'access exclusive'): Promise<() => Promise<void>> {
  const blocker = await testDb.open()
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  let locked!: () => void
  const lockHeld = new Promise<void>((resolve) => { locked = resolve })
  const holder = blocker.transaction(async (tx) => {
    await tx.query(`lock table ${table} in ${mode} mode`)
    locked()
    await released
  })
  await lockHeld
  return async () => {
    release()
    await holder
  }
}

export function tempDir (t: Test, prefix = 'arbiter-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A DATA_DIR for a CLI command or `arbiter serve` that is not about a first start: its embedded
 * database exists already, as after an earlier start, which spares the test initdb's seconds. A
 * test of a first start on an empty directory uses tempDir.
 */
export async function dataDir (t: Test): Promise<string> {
  const dir = tempDir(t, 'arbiter-data-')
  await seedEmbeddedCluster(path.join(dir, 'pgdata'))
  return dir
}

/** A policy directory holding `files` (name → YAML), or a copy of the shipped policies. */
export function policyDir (t: Test, files?: Record<string, string>): string {
  const dir = tempDir(t, 'arbiter-policy-')
  if (files === undefined) cpSync(EXAMPLE_POLICY_DIR, dir, { recursive: true })
  else for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text)
  return dir
}

/** A logger that keeps every line it writes, for assertions on logs. */
export function captureLogger (): { logger: pino.Logger, lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  return { logger: pino({ level: 'debug' }, stream), lines }
}

export interface TestApp {
  app: FastifyInstance
  db: Database
  testDb: TestDb
  config: Config
  deps: AppDeps
  logLines: string[]
  /** A root admin's token, sent by `app.inject` unless a request sets its own authorization. */
  adminToken: string
  /**
   * Creates a key on this app's database and returns its token: a root admin's service key
   * unless `scope` says otherwise. A reviewer's key is a person's unless `kind` says otherwise
   * (a service key cannot be a reviewer).
   */
  token: (scope?: Partial<KeyRequest>) => Promise<string>
}

export interface TestAppOptions {
  env?: Record<string, string>
  policies?: Record<string, string>
  policyPath?: string
  testDb?: TestDb
  deps?: Partial<AppDeps>
}

/** Builds an app on a throwaway database and closes both when the test ends. */
export async function testApp (t: Test, options: TestAppOptions = {}): Promise<TestApp> {
  const testDb = options.testDb ?? await testDatabase(t)
  const dataDir = tempDir(t, 'arbiter-data-')
  const config = loadConfig({
    DATA_DIR: dataDir,
    POLICY_PATH: options.policyPath ?? policyDir(t, options.policies),
    LOG_LEVEL: 'silent',
    ...options.env
  })
  const { logger, lines } = captureLogger()
  const key = await loadHmacKey({ dataDir })
  const checkpointKey = await loadCheckpointKey({ dataDir })
  const db = options.testDb === undefined ? testDb.db : await testDb.open()
  const deps: AppDeps = { db, key, checkpointKey, logger, ...options.deps }
  const app = await buildApp(config, deps)
  t.teardown(async () => await app.close())
  await app.ready()
  const token = async (scope: Partial<KeyRequest> = {}): Promise<string> => {
    const kind = scope.roles?.includes('reviewer') === true ? 'person' : 'service'
    return (await createKey(deps.db, OPERATOR, { principal_id: 'test', roles: ['admin'], tenants: ['*'], kind, ...scope })).token
  }
  const adminToken = await token({ principal_id: 'test-admin' })
  authorizeInjections(app, adminToken)
  return { app, db, testDb, config, deps, logLines: lines, adminToken, token }
}

/**
 * Makes `app.inject` send `Bearer <token>` unless the request names its own `authorization`
 * header; naming it `undefined` sends none. Most tests are about something other than access.
 */
function authorizeInjections (app: FastifyInstance, token: string): void {
  const inject = app.inject.bind(app) as (opts: InjectOptions) => Promise<LightMyRequestResponse>
  const authorized = async (opts: InjectOptions | string): Promise<LightMyRequestResponse> => {
    const o: InjectOptions = typeof opts === 'string' ? { url: opts } : opts
    const headers: Record<string, string> = { authorization: `Bearer ${token}` }
    for (const [k, v] of Object.entries(o.headers ?? {})) {
      if (v === undefined) delete headers[k.toLowerCase()]
      else headers[k.toLowerCase()] = String(v)
    }
    return await inject({ ...o, headers })
  }
  app.inject = authorized as typeof app.inject
}

/**
 * Verifies a tenant's whole log (chain and signatures): the number of records, or the first
 * problem found.
 */
export async function verifyLog (db: Database, tenant: string, hmacKeys: ReadonlyMap<string, Buffer>): Promise<{ seq: number, problem: string } | number> {
  const v = new ChainVerifier(tenant, undefined, hmacKeys)
  for (const r of await readLog(db, tenant, 1, Number.MAX_SAFE_INTEGER, 1_000_000)) {
    const p = v.next(r)
    if (p !== null) return p
  }
  return v.checked
}
