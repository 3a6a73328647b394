/** Opens the database the configuration names: a Postgres server, or the embedded one in DATA_DIR. */
import path from 'node:path'
import type { Logger } from 'pino'
import { lockDataDir } from './data-dir-lock.js'
import { openEmbedded, openPostgres, type Database } from './db.js'

/** What of the configuration (src/config.ts) names the database. */
export interface DatabaseSettings {
  databaseUrl?: string
  dataDir: string
  /** How long a connection to the server may take: a check's budget. */
  checkBudgetMs: number
}

/**
 * The embedded database belongs to one process at a time: opening it takes the data directory's
 * lock (released by `close`), and a second process is refused with DataDirLocked.
 */
export async function openDatabase (config: DatabaseSettings, log: Logger): Promise<Database> {
  if (config.databaseUrl !== undefined) {
    return openPostgres(config.databaseUrl, {
      connectionTimeoutMillis: config.checkBudgetMs,
      onError: (err) => log.warn({ err }, 'idle database connection failed')
    })
  }
  const lock = await lockDataDir(config.dataDir)
  const dir = path.join(config.dataDir, 'pgdata')
  log.info({ dir }, 'using the embedded database (set DATABASE_URL to use a Postgres server)')
  let db: Database
  try {
    db = await openEmbedded(dir)
  } catch (err) {
    await lock.release()
    throw err
  }
  return {
    ...db,
    close: async () => {
      try {
        await db.close()
      } finally {
        await lock.release()
      }
    }
  }
}
