/**
 * One small interface over the two databases Arbiter runs on: a real Postgres server (pg) and
 * the embedded PGlite (Postgres compiled to WASM). Everything above this file speaks SQL only.
 */
import { PGlite } from '@electric-sql/pglite'
import { mkdir } from 'node:fs/promises'
import pg from 'pg'
import { followHosts, parseDatabaseUrl, sessionProbe } from './hosts.js'
import { listenPostgres, type Listener, type ListenHandlers } from './listen.js'

export type { Listener, ListenHandlers } from './listen.js'

export interface Queryable {
  /** `name` makes a hot statement a prepared one on the server (parsed and planned once per connection). */
  query: <R = Record<string, unknown>>(text: string, params?: unknown[], name?: string) => Promise<{ rows: R[] }>
  /** Runs a script of several statements without parameters (migrations). */
  exec: (script: string) => Promise<void>
  /** The server process behind this connection, where there is one (a pg connection held by `session`). */
  readonly pid?: number
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'embedded'
  /**
   * Runs `fn` in one transaction on one connection: COMMIT if it resolves, ROLLBACK if it throws.
   * `timeoutMs` bounds each statement in it (a server setting; the embedded database has no timer).
   */
  transaction: <T>(fn: (tx: Queryable) => Promise<T>, options?: { timeoutMs?: number }) => Promise<T>
  /** Runs `fn` on one connection held for its whole duration (session-level advisory locks). */
  session: <T>(fn: (client: Queryable) => Promise<T>) => Promise<T>
  close: () => Promise<void>
  /** The connection pool's use, where there is one (Postgres; the embedded database has none). */
  poolStats?: () => PoolStats
  /**
   * LISTEN on `channel` until the listener is closed (or the database is). `state(false)` says
   * notifications may have been missed since; `state(true)` that they are delivered again.
   */
  listen?: (channel: string, handlers: ListenHandlers) => Listener
}

export interface PoolStats {
  /** Connections open, idle or checked out. */
  total: number
  idle: number
  /** Queries and sessions waiting for a connection. */
  waiting: number
}

/** COMMIT failed on the way: the transaction may or may not have committed. */
export class CommitOutcomeUnknown extends Error {
  constructor (cause: unknown) {
    super(`commit outcome unknown: ${(cause as Error).message}`, { cause })
    this.name = 'CommitOutcomeUnknown'
  }
}

/** A ROLLBACK failed: the connection's state is unknown; the original error is the cause. */
class ConnectionSuspect extends Error {
  constructor (cause: unknown, rollbackErr: unknown) {
    super(`${(cause as Error).message} (and the rollback failed: ${(rollbackErr as Error).message})`, { cause })
    this.name = 'ConnectionSuspect'
  }
}

export interface PostgresOptions {
  /** Every connection uses this schema first (tests isolate themselves this way). */
  schema?: string
  max?: number
  connectionTimeoutMillis?: number
  /** Shown in pg_stat_activity, so operators can tell Arbiter's sessions apart. */
  applicationName?: string
  /** The client's own limit on any one query (default 30 s). */
  queryTimeoutMillis?: number
  onError?: (err: Error) => void
}

/**
 * Opens a pool on a Postgres server, or on the first server of a libpq host list that takes
 * writes (hosts.ts): every new connection looks for it again, so a failover is followed.
 */
export function openPostgres (url: string, options: PostgresOptions = {}): Database {
  const budgetMs = options.connectionTimeoutMillis ?? 5000
  const applicationName = options.applicationName ?? 'arbiter'
  const target = parseDatabaseUrl(url)
  // One host: pg is given the URL as written, and connecting costs what it always did.
  const follower = target.hosts.length === 1 ? undefined : followHosts(target, { budgetMs, probe: sessionProbe(applicationName) })
  const pool = new pg.Pool({
    connectionString: follower?.current ?? url,
    ...(follower === undefined ? {} : { Client: follower.Client }),
    max: options.max ?? 10,
    // Over all the hosts tried, too: the pool ends a connection still opening after it.
    connectionTimeoutMillis: budgetMs,
    application_name: applicationName,
    // A server or network that goes silent must not hold a connection (and a log's head) forever:
    // statement_timeout is enforced by the server, so the client keeps its own limit too.
    keepAlive: true,
    query_timeout: options.queryTimeoutMillis ?? 30_000,
    // synchronous_commit is forced on for every session (and again in every transaction): a
    // server or role configured otherwise could lose an answered decision in a crash, and a
    // group committed by a statement of its own has no transaction to set it in.
    options: `-c synchronous_commit=on${options.schema === undefined ? '' : ` -c search_path=${options.schema}`}`
  })
  // An idle client losing its server emits here; unhandled, it would crash the process.
  pool.on('error', (err) => options.onError?.(err))
  const listeners = new Set<Listener>()
  // Each connection's server process, asked of the server: the id in the protocol's key data is
  // a pooler's own when one stands in between. Asked when a session first holds the connection,
  // and awaited: a query queued from pool.on('connect') ran beside the pool's own first query,
  // which pg deprecates (pg@9 refuses a query while the client runs another).
  const pids = new WeakMap<pg.PoolClient, number>()
  const askPid = async (client: pg.PoolClient): Promise<void> => {
    if (pids.has(client)) return
    await client.query<{ pid: number }>('select pg_backend_pid() as pid').then(({ rows }) => { pids.set(client, rows[0].pid) }, () => {})
  }
  const wrap = (client: pg.PoolClient | pg.Pool): Queryable => ({
    query: async <R>(text: string, params?: unknown[], name?: string) =>
      await (name === undefined ? client.query(text, params) : client.query({ name, text, values: params })) as unknown as { rows: R[] },
    exec: async (script: string) => { await client.query(script) },
    get pid () { return client instanceof pg.Pool ? undefined : pids.get(client) }
  })
  const session = async <T>(fn: (c: Queryable) => Promise<T>): Promise<T> => {
    const client = await pool.connect()
    let broken: Error | undefined
    // pg emits 'error' on a checked-out client whose connection drops, even while a query is
    // in flight (that query rejects too); unheard, the event would crash the process.
    const onError = (err: Error): void => { broken = err; options.onError?.(err) }
    client.on('error', onError)
    try {
      await askPid(client)
      return await fn(wrap(client))
    } catch (err) {
      // An ordinary failure (a constraint, a rejected check) was rolled back cleanly and leaves
      // the connection reusable; only a connection in an unknown state is thrown away.
      if (err instanceof ConnectionSuspect || err instanceof CommitOutcomeUnknown || /timeout/i.test((err as Error).message)) broken ??= err as Error
      throw err
    } finally {
      client.off('error', onError)
      // A connection that failed mid-transaction is destroyed rather than reused.
      client.release(broken)
    }
  }
  return {
    kind: 'postgres',
    ...wrap(pool),
    session,
    transaction: async (fn, opts) => await session(async (c) => {
      // One round trip for all; the timeout is an integer computed here, never caller text.
      const timeout = opts?.timeoutMs === undefined ? '' : `; set local statement_timeout = ${Math.max(1, Math.floor(opts.timeoutMs))}`
      await c.exec(`begin; set local synchronous_commit = on${timeout}`)
      let result: Awaited<ReturnType<typeof fn>>
      try {
        result = await fn(c)
      } catch (err) {
        await c.query('rollback').catch((rollbackErr: unknown) => { throw new ConnectionSuspect(err, rollbackErr) })
        throw err
      }
      try {
        await c.query('commit')
      } catch (err) {
        // The server may have committed before the answer was lost: only a read can tell.
        throw new CommitOutcomeUnknown(err)
      }
      return result
    }),
    close: async () => {
      await Promise.all([...listeners].map(async (l) => { await l.close() }))
      await pool.end()
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    listen: (channel, handlers) => {
      const config = { connectionTimeoutMillis: budgetMs, application_name: `${applicationName} listener ${channel}`, connectionString: url }
      let onError = options.onError
      if (follower !== undefined) {
        // listenPostgres builds each reconnection's client from a fresh copy of this config, so
        // a getter gives each one the host chosen last; and each failure has it chosen again.
        // (A server in recovery refuses LISTEN, so a stale choice fails rather than goes deaf.)
        Object.defineProperty(config, 'connectionString', { enumerable: true, get: () => follower.current })
        onError = (err) => { follower.rechoose(); options.onError?.(err) }
      }
      const listener = listenPostgres(config, channel, handlers, onError)
      listeners.add(listener)
      return { close: async () => { listeners.delete(listener); await listener.close() } }
    }
  }
}

/**
 * Opens (creating if needed) an embedded database in `dataDir`, or in memory with `memory://`;
 * `loadDataDir`, a dump of a cluster (PGlite's dumpDataDir), starts a new one from it.
 */
export async function openEmbedded (dataDir: string, loadDataDir?: Blob): Promise<Database> {
  if (!dataDir.startsWith('memory://')) await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const db = await PGlite.create({ dataDir, ...(loadDataDir === undefined ? {} : { loadDataDir }) })
  const wrap = (q: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    query: async <R>(text: string, params?: unknown[]) => await q.query<R>(text, params),
    exec: async (script: string) => { await q.exec(script) }
  })
  const self = wrap(db)
  return {
    kind: 'embedded',
    ...self,
    // PGlite has a single backend: a session is the database itself.
    session: async (fn) => await fn(self),
    transaction: async (fn) => await db.transaction(async (tx) => await fn(wrap(tx))),
    close: async () => { if (!db.closed) await db.close() },
    listen: (channel, handlers) => listenEmbedded(db, channel, handlers)
  }
}

/** LISTEN on the embedded database: in the process itself, so it is never lost until closed. */
function listenEmbedded (db: PGlite, channel: string, handlers: ListenHandlers): Listener {
  let closed = false
  const listening = db.listen(channel, handlers.notify).then((unlisten) => {
    if (!closed) handlers.state(true)
    return unlisten
  }, () => undefined) // a database closed already: nothing to listen to, nothing cached
  return {
    close: async () => {
      closed = true
      handlers.state(false)
      if (!db.closed) await (await listening)?.().catch(() => {})
    }
  }
}
