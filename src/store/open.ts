/** Opens the database the configuration names: a Postgres server, or the embedded one in DATA_DIR. */
import path from 'node:path'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import { openEmbedded, openPostgres, type Database } from './db.js'

export async function openDatabase (config: Config, log: Logger): Promise<Database> {
  if (config.databaseUrl !== undefined) {
    return openPostgres(config.databaseUrl, {
      connectionTimeoutMillis: config.checkBudgetMs,
      onError: (err) => log.warn({ err }, 'idle database connection failed')
    })
  }
  const dir = path.join(config.dataDir, 'pgdata')
  log.info({ dir }, 'using the embedded database (set DATABASE_URL to use a Postgres server)')
  return await openEmbedded(dir)
}
