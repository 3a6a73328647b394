/**
 * LISTEN on a Postgres server: one connection of its own, outside the pool (a pooled connection
 * goes back to the pool, and its LISTEN with it), reconnected with backoff when it is lost. Who
 * listens is told each time LISTEN takes effect and each time the connection is lost, because
 * notifications sent in between are gone for good.
 */
import pg from 'pg'

export interface ListenHandlers {
  /** A notification on the channel, with its payload. */
  notify: (payload: string) => void
  /** `true` once LISTEN is in force (again after each reconnection), `false` when it is lost. */
  state: (listening: boolean) => void
}

export interface Listener {
  close: () => Promise<void>
}

/** The first wait before reconnecting; it doubles on each failure, up to MAX_BACKOFF_MS. */
const MIN_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 5000
/**
 * A connection that went silent (a network that drops packets rather than refusing them) emits
 * no error for minutes: a ping notices within PING_MS + the ping's own timeout instead.
 */
const PING_MS = 10_000
const PING_TIMEOUT_MS = 5000

/** Listens on `channel` over connections made from `config` until `close`. */
export function listenPostgres (config: pg.ClientConfig, channel: string, handlers: ListenHandlers, onError?: (err: Error) => void): Listener {
  let client: pg.Client | undefined
  let closed = false
  let backoff = MIN_BACKOFF_MS
  let retry: NodeJS.Timeout | undefined
  let ping: NodeJS.Timeout | undefined

  // Called for every error and end event of a connection; only the first for the current one counts.
  const lost = (c: pg.Client, err?: Error): void => {
    if (err !== undefined) onError?.(err)
    if (client !== c) return
    client = undefined
    clearInterval(ping)
    handlers.state(false)
    c.end().catch(() => {})
    schedule()
  }
  const schedule = (): void => {
    if (closed) return
    // Jittered, so that instances that lost the same server do not all come back at one instant.
    retry = setTimeout(start, backoff * (0.5 + Math.random() / 2)).unref()
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)
  }
  const connect = async (): Promise<void> => {
    const c = new pg.Client({ ...config, keepAlive: true, query_timeout: PING_TIMEOUT_MS })
    c.on('error', (err) => { lost(c, err) })
    c.on('end', () => { lost(c) })
    c.on('notification', (n) => { if (n.channel === channel) handlers.notify(n.payload ?? '') })
    try {
      await c.connect()
      await c.query(`listen ${pg.escapeIdentifier(channel)}`)
    } catch (err) {
      onError?.(err as Error)
      c.end().catch(() => {})
      schedule()
      return
    }
    if (closed) {
      await c.end().catch(() => {})
      return
    }
    client = c
    backoff = MIN_BACKOFF_MS
    handlers.state(true)
    ping = setInterval(() => { c.query('select 1').catch((err: unknown) => { lost(c, err as Error) }) }, PING_MS).unref()
  }

  const start = (): void => { connect().catch((err: unknown) => { onError?.(err as Error) }) }
  start()
  return {
    close: async () => {
      closed = true
      clearTimeout(retry)
      clearInterval(ping)
      const c = client
      client = undefined
      await c?.end().catch(() => {})
    }
  }
}
