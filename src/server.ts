/**
 * The running service: the only place that listens, handles signals and reads process state.
 */
import pino from 'pino'
import { loadCheckpointKey } from './audit/checkpoint-key.js'
import { loadHmacKey, loadHmacKeyring } from './audit/hmac-key.js'
import { buildApp, buildMetricsApp } from './app.js'
import { ensureAdminKey } from './auth/bootstrap.js'
import type { Config } from './config.js'
import { openDatabase } from './store/open.js'

export const REDACT = ['req.headers.authorization', 'req.headers.cookie', 'token', 'secret', '*.token', '*.secret']

export function createLogger (config: Pick<Config, 'logLevel'>): pino.Logger {
  return pino({ level: config.logLevel, redact: { paths: REDACT, censor: '[redacted]' } })
}

/** Starts Arbiter and keeps it running until SIGTERM or SIGINT. */
export async function serve (config: Config): Promise<void> {
  const log = createLogger(config)
  const db = await openDatabase(config, log)
  const key = await loadHmacKey({ dataDir: config.dataDir, keyFile: config.hmacKeyFile })
  if (key.created) log.info({ path: key.path, keyId: key.id }, 'generated a new HMAC signing key')
  const checkpointKey = await loadCheckpointKey({ dataDir: config.dataDir, keyFile: config.checkpointKeyFile })
  if (checkpointKey.created) log.info({ path: checkpointKey.path, keyId: checkpointKey.id }, 'generated a new Ed25519 checkpoint key')
  const hmacKeys = await loadHmacKeyring({ dataDir: config.dataDir, keyFile: config.hmacKeyFile })
  const app = await buildApp(config, { db, key, hmacKeys, checkpointKey, logger: log })
  if (config.watchPolicies) {
    app.policies.watch()
    app.shadowPolicies?.watch()
  }
  if (config.authEnabled) {
    const admin = await ensureAdminKey(db, { dataDir: config.dataDir, envToken: config.adminToken })
    if (admin.kind === 'generated') log.warn({ path: admin.path, keyId: admin.keyId }, 'created the first admin key: its token is in this file, readable only by this user; keep it safe, or revoke the key once you have made your own')
    if (admin.kind === 'from-env' && admin.created) log.info({ keyId: admin.keyId }, 'created the first admin key from ARBITER_ADMIN_TOKEN')
    if (admin.kind === 'env-revoked') log.error({ keyId: admin.keyId }, 'ARBITER_ADMIN_TOKEN names a revoked key: it stays revoked; set a new token, or use the admin keys there are')
  }
  const metricsApp = config.metricsPort === undefined ? undefined : buildMetricsApp(app.metrics, log)

  process.on('SIGHUP', () => {
    log.info('SIGHUP: reloading policy')
    app.policies.reload().catch((err: unknown) => log.error({ err }, 'policy reload failed'))
    app.shadowPolicies?.reload().catch((err: unknown) => log.error({ err }, 'shadow policy reload failed'))
  })
  let closing = false
  const shutdown = (signal: string): void => {
    if (closing) return
    closing = true
    log.info({ signal }, 'shutting down')
    // In-flight checks finish (and are recorded) before the database closes.
    Promise.all([app.close(), metricsApp?.close()]).then(async () => await db.close()).then(
      () => process.exit(0),
      (err: unknown) => { log.error({ err }, 'unclean shutdown'); process.exit(1) }
    )
  }
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))

  await app.listen({ port: config.port, host: config.host })
  if (metricsApp !== undefined) await metricsApp.listen({ port: config.metricsPort, host: config.metricsHost })
}
