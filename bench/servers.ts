/**
 * The two servers under load: Arbiter on a fresh schema of a real Postgres server, and a bare
 * Fastify echo. Both listen on 127.0.0.1, port 0, in this process.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import pino from 'pino'
import { buildApp } from '../src/app.js'
import { createKey, OPERATOR } from '../src/auth/keys.js'
import { loadCheckpointKey } from '../src/audit/checkpoint-key.js'
import { loadHmacKey } from '../src/audit/hmac-key.js'
import { loadConfig } from '../src/config.js'
import { PACKAGE_ROOT } from '../src/paths.js'
import { openPostgres, type Database } from '../src/store/db.js'

/** What the bench sees of the writer's transactions: one per committed group. */
export interface GroupLog {
  sizes: number[]
  /** Whole group: pool checkout, begin, set_config, insert, commit (ms). */
  totalMs: number[]
  /** Pool checkout (+ begin, for a transaction), before the writer's function runs (ms). */
  beginMs: number[]
  /** The statement-timeout set_config and head-lock round trips (ms). */
  setMs: number[]
  /** The append statement (ms); for a group on its own, with its commit and WAL flush. */
  insertMs: number[]
  /** After the writer's function returned: the commit round trip of a transaction (ms). */
  commitMs: number[]
}

export function newGroupLog (): GroupLog {
  return { sizes: [], totalMs: [], beginMs: [], setMs: [], insertMs: [], commitMs: [] }
}

/**
 * Wraps `transaction` and `session` to log each group's size (rows appended) and where its time
 * goes. A group sealed ahead is one statement on a session (append and commit together, logged
 * as the append); a group that finds the head under the lock is a transaction.
 */
function instrument (db: Database, log: GroupLog): Database {
  const record = (rows: number, t0: number, fnStart: number, set: number, insert: number, fnEnd: number): void => {
    if (rows === 0) return
    const end = performance.now()
    log.sizes.push(rows)
    log.totalMs.push(end - t0)
    log.beginMs.push(fnStart - t0)
    log.setMs.push(set)
    log.insertMs.push(insert)
    log.commitMs.push(end - fnEnd)
  }
  return {
    ...db,
    session: async (fn) => {
      let rows = 0
      let insert = 0
      let fnStart = 0
      let fnEnd = 0
      const t0 = performance.now()
      try {
        return await db.session(async (c) => {
          fnStart = performance.now()
          try {
            return await fn({
              ...c,
              query: async <R>(text: string, params?: unknown[], name?: string) => {
                const q0 = performance.now()
                const res = await c.query<R>(text, params, name)
                if (text.startsWith('select arbiter_append')) {
                  // Columns travel as arrays (params 8 on): the first one's length is the group's size.
                  rows += (params?.[7] as unknown[]).length
                  insert += performance.now() - q0
                }
                return res
              }
            })
          } finally {
            fnEnd = performance.now()
          }
        })
      } finally {
        record(rows, t0, fnStart, 0, insert, fnEnd)
      }
    },
    transaction: async (fn, opts) => {
      let rows = 0
      let insert = 0
      let set = 0
      let fnStart = 0
      let fnEnd = 0
      const t0 = performance.now()
      const result = await db.transaction(async (tx) => {
        fnStart = performance.now()
        try {
          return await fn({
            ...tx,
            query: async <R>(text: string, params?: unknown[], name?: string) => {
              const q0 = performance.now()
              const res = await tx.query<R>(text, params, name)
              if (text.startsWith('with moved as')) {
                // Columns travel as arrays (params 6 on): the first one's length is the group's size.
                rows += (params?.[5] as unknown[]).length
                insert += performance.now() - q0
              } else if (text.startsWith('select set_config') || text.startsWith('insert into audit_heads')) {
                set += performance.now() - q0
              }
              return res
            }
          })
        } finally {
          fnEnd = performance.now()
        }
      }, opts)
      record(rows, t0, fnStart, set, insert, fnEnd)
      return result
    }
  }
}

export interface Arbiter {
  app: FastifyInstance
  url: string
  groups: GroupLog
  /** /check answers the server sent, by status code (counted as they are sent). */
  answers: Map<number, number>
  /** `Bearer <token>` of a scheduler key: every /check is authenticated, as in production. */
  authorization: string
  countRows: () => Promise<number>
  /** Approvals opened, in any state. */
  countApprovals: () => Promise<number>
  close: () => Promise<void>
}

async function adminQuery (url: string, sql: string): Promise<Array<Record<string, unknown>>> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return (await c.query(sql)).rows
  } finally {
    await c.end()
  }
}

export async function postgresFacts (url: string): Promise<Record<string, string>> {
  const [row] = await adminQuery(url, "select current_setting('server_version') as version, current_setting('synchronous_commit') as sync, current_setting('fsync') as fsync")
  return { version: String(row.version), synchronous_commit: String(row.sync), fsync: String(row.fsync) }
}

/**
 * `shadowPath`: a candidate policy every check also evaluates (POLICY_SHADOW_PATH);
 * `options.policyPath`: the policy, a file or a folder (POLICY_PATH), instead of the repository's `policies/`;
 * `options.env`: more configuration (e.g. MAX_PENDING_APPROVALS).
 */
export async function startArbiter (url: string, shadowPath?: string, options: { policyPath?: string, env?: Record<string, string> } = {}): Promise<Arbiter> {
  const schema = `arbiter_bench_${randomBytes(6).toString('hex')}`
  const dataDir = mkdtempSync(path.join(tmpdir(), 'arbiter-bench-'))
  await adminQuery(url, `create schema ${schema}`)
  const raw = openPostgres(url, { schema })
  const groups = newGroupLog()
  const answers = new Map<number, number>()
  let app: FastifyInstance | undefined
  const cleanup = async (): Promise<void> => {
    await app?.close()
    await raw.close()
    await adminQuery(url, `drop schema ${schema} cascade`)
    rmSync(dataDir, { recursive: true, force: true })
  }
  try {
    const config = loadConfig({
      DATABASE_URL: url,
      DATA_DIR: dataDir,
      POLICY_PATH: options.policyPath ?? path.join(PACKAGE_ROOT, 'policies'),
      LOG_LEVEL: 'silent',
      POLICY_WATCH: 'false',
      ...(shadowPath === undefined ? {} : { POLICY_SHADOW_PATH: shadowPath }),
      ...options.env
    })
    const key = await loadHmacKey({ dataDir })
    const checkpointKey = await loadCheckpointKey({ dataDir })
    app = await buildApp(config, { db: instrument(raw, groups), key, checkpointKey, logger: pino({ level: 'silent' }) })
    app.addHook('onSend', async (request, reply) => {
      if (request.routeOptions.url === '/check') answers.set(reply.statusCode, (answers.get(reply.statusCode) ?? 0) + 1)
    })
    const { token } = await createKey(raw, OPERATOR, { principal_id: 'bench-scheduler', roles: ['scheduler'], tenants: ['*'] })
    const address = await app.listen({ host: '127.0.0.1', port: 0 })
    return {
      app,
      url: address,
      groups,
      answers,
      authorization: `Bearer ${token}`,
      countRows: async () => (await raw.query<{ n: number }>("select count(*)::int as n from audit_log where record_type = 'decision'")).rows[0].n,
      countApprovals: async () => (await raw.query<{ n: number }>('select count(*)::int as n from approvals')).rows[0].n,
      close: cleanup
    }
  } catch (err) {
    await cleanup().catch(() => {})
    throw err
  }
}

export async function startEcho (): Promise<{ url: string, close: () => Promise<void> }> {
  const app = Fastify({ logger: false })
  app.post('/echo', async (request) => request.body)
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return { url, close: async () => await app.close() }
}
