/**
 * libpq's multi-host connection strings, which node-postgres does not read:
 * `postgres://user@db1:5432,db2:5432/arbiter?target_session_attrs=read-write`. The hosts are
 * tried in order whenever a connection is opened, and one whose session cannot take Arbiter's
 * writes is passed over, so that after a failover new connections land on the promoted standby
 * without Arbiter restarting. A URL naming one host is handed to pg exactly as written.
 */
import { isIP } from 'node:net'
import pg from 'pg'

/**
 * libpq's target_session_attrs, as far as a service that writes every decision can use them:
 * `read-write` (a session that can write), `primary` (a server not in recovery) and `any`.
 */
export type SessionTarget = 'any' | 'read-write' | 'primary'

/** One server of the list, as pg is to be given it. */
export interface HostEntry {
  /** `host:port` as written (brackets kept), for messages: never the credentials. */
  label: string
  /** A connection string naming this host alone; the rest of the URL as the user wrote it. */
  url: string
}

export interface DatabaseTarget {
  /** In the order they are tried; one entry for a single-host URL (its `url` the original). */
  hosts: readonly HostEntry[]
  sessionTarget: SessionTarget
}

/** A DATABASE_URL that cannot be read; the message names the part, never the password. */
export class DatabaseUrlError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'DatabaseUrlError'
  }
}

const SESSION_TARGETS: readonly string[] = ['any', 'read-write', 'primary']
/** libpq values that would send every write to a server that refuses it. */
const READ_ONLY_TARGETS: readonly string[] = ['read-only', 'standby', 'prefer-standby']
/** Parameters that describe the host list: consumed here, never passed to pg. */
const LIST_PARAMS: readonly string[] = ['target_session_attrs', 'port']

/**
 * Reads `url` into its hosts and session target. Several hosts default to `read-write` (libpq's
 * default is `any`): Arbiter writes every decision, so a standby is never the server it wants.
 * With one host nothing is chosen, whatever the target: there is no other host to try, and a
 * server that refuses writes says so at the first write, without a round trip more per connection.
 */
export function parseDatabaseUrl (url: string): DatabaseTarget {
  // The authority ends at the first '/', '?' or '#' and its credentials at the last '@' in it,
  // as WHATWG URLs (and so pg) read them: a password holding those characters must be
  // percent-encoded, and one holding '@', ':' or ',' needs nothing more.
  const m = /^(postgres(?:ql)?:)\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?/s.exec(url)
  if (m === null) throw new DatabaseUrlError('must start with postgres:// or postgresql://')
  const [, scheme, authority, path, query = ''] = m
  const at = authority.lastIndexOf('@')
  const credentials = authority.slice(0, at + 1)
  const hostList = authority.slice(at + 1)
  const params = new URLSearchParams(query)
  const portParam = params.getAll('port').at(-1)
  const several = hostList.includes(',') || (portParam?.includes(',') ?? false) || (params.get('host')?.includes(',') ?? false)
  const sessionTarget = sessionTargetOf(params.getAll('target_session_attrs').at(-1), several)
  if (!several) return { hosts: [{ label: hostList === '' ? 'the default host' : hostList, url }], sessionTarget }
  if (params.has('host')) throw new DatabaseUrlError('name several hosts before the path (postgres://db1:5432,db2:5432/arbiter), not in ?host=')

  const entries = hostList.split(',').map(hostEntryOf)
  const ports = portParam === undefined ? entries.map((e) => e.port) : portList(portParam, entries.length)
  const kept = query.split('&').filter((p) => p !== '' && !LIST_PARAMS.includes(decodeParamName(p))).join('&')
  const hosts = entries.map((e, i) => {
    const port = ports[i]
    const hostPort = port === undefined ? e.host : `${e.host}:${port}`
    return { label: hostPort, url: `${scheme}//${credentials}${hostPort}${path}${kept === '' ? '' : `?${kept}`}` }
  })
  return { hosts, sessionTarget }
}

function sessionTargetOf (value: string | undefined, several: boolean): SessionTarget {
  if (value === undefined) return several ? 'read-write' : 'any'
  if (SESSION_TARGETS.includes(value)) return value as SessionTarget
  if (READ_ONLY_TARGETS.includes(value)) {
    throw new DatabaseUrlError(`target_session_attrs=${value} would choose a server that refuses writes, and Arbiter writes every decision: use read-write, primary or any`)
  }
  throw new DatabaseUrlError(`target_session_attrs=${value} is not one of ${SESSION_TARGETS.join(', ')}`)
}

/** One entry of the host list: `name`, `name:port`, `[v6]` or `[v6]:port`. */
function hostEntryOf (entry: string): { host: string, port: string | undefined } {
  if (entry === '') throw new DatabaseUrlError('the host list has an empty entry (two commas, or one at an end)')
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']')
    if (close === -1 || isIP(entry.slice(1, close)) !== 6) throw new DatabaseUrlError(`${entry} is not a bracketed IPv6 address`)
    const after = entry.slice(close + 1)
    if (after !== '' && !after.startsWith(':')) throw new DatabaseUrlError(`${entry}: only :port may follow the brackets`)
    return { host: entry.slice(0, close + 1), port: after === '' ? undefined : portText(after.slice(1)) }
  }
  const parts = entry.split(':')
  if (parts.length > 2) throw new DatabaseUrlError(`${entry}: an IPv6 address must be written in brackets, [::1]:5432`)
  // Unreserved characters and percent-escapes: a name, an IPv4 address or an encoded socket path.
  if (!/^[A-Za-z0-9._~%-]+$/.test(parts[0])) throw new DatabaseUrlError(`${entry}: ${parts[0] === '' ? 'the host is missing' : 'is not a host name'}`)
  return { host: parts[0], port: parts.length === 1 ? undefined : portText(parts[1]) }
}

/**
 * `?port=`: as in libpq it overrides the ports written with the hosts, one port for all or one
 * per host (an empty one: pg's default).
 */
function portList (param: string, hosts: number): Array<string | undefined> {
  const ports = param.split(',')
  if (ports.length !== 1 && ports.length !== hosts) {
    throw new DatabaseUrlError(`?port= lists ${ports.length} ports for ${hosts} host${hosts === 1 ? '' : 's'}: give one port for all, or one per host`)
  }
  return Array.from({ length: hosts }, (_, i) => ports[ports.length === 1 ? 0 : i]).map((p) => p === '' ? undefined : portText(p))
}

function portText (text: string): string {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new DatabaseUrlError(`port '${text}' is not a number from 1 to 65535`)
  }
  return String(Number(text))
}

/** The decoded name of one `name=value` pair of a query (never empty: empty pairs are dropped). */
function decodeParamName (pair: string): string {
  return [...new URLSearchParams(pair).keys()][0]
}

/** What a server said of a session opened on it, and where pg's connection to it went. */
export interface Landing {
  host: string
  port: number
  readOnly: boolean
  inRecovery: boolean
}

/** Opens a session on `entry` within `timeoutMs` and asks what it can do; rejects if it cannot. */
export type Probe = (entry: HostEntry, timeoutMs: number) => Promise<Landing>

/** Whether `target` accepts a session such as `landing` (libpq's tests, in one query). */
export function takesSession (target: SessionTarget, landing: Pick<Landing, 'readOnly' | 'inRecovery'>): boolean {
  if (target === 'any') return true
  if (target === 'primary') return !landing.inRecovery
  return !landing.readOnly && !landing.inRecovery
}

/** No host of the list took the session: why, host by host. */
export class NoHostForSession extends Error {
  constructor (target: SessionTarget, refusals: readonly string[]) {
    super(`no ${target === 'any' ? 'reachable' : target} server among the hosts: ${refusals.join('; ')}`)
    this.name = 'NoHostForSession'
  }
}

/**
 * The first host, in order, whose session the target accepts, within `budgetMs` for them all.
 * Each host may use an equal share of the time left: one that swallows packets instead of
 * refusing them cannot spend the time of the hosts after it.
 */
export async function chooseHost (target: DatabaseTarget, probe: Probe, budgetMs: number, now: () => number = Date.now): Promise<{ entry: HostEntry, landing: Landing }> {
  const deadline = now() + budgetMs
  const refusals: string[] = []
  for (const [i, entry] of target.hosts.entries()) {
    const left = deadline - now()
    if (left <= 0) {
      refusals.push(`${entry.label}: not tried, the ${budgetMs} ms were spent`)
      continue
    }
    try {
      const landing = await probe(entry, Math.ceil(left / (target.hosts.length - i)))
      if (takesSession(target.sessionTarget, landing)) return { entry, landing }
      refusals.push(`${entry.label}: ${landing.inRecovery ? 'a standby in recovery' : 'read-only'}`)
    } catch (err) {
      refusals.push(`${entry.label}: ${(err as Error).message}`)
    }
  }
  throw new NoHostForSession(target.sessionTarget, refusals)
}

const SESSION_QUERY = "select current_setting('transaction_read_only') = 'on' as read_only, pg_is_in_recovery() as in_recovery"

/** The Probe used for real: a short-lived connection of its own, one query, then gone. */
export function sessionProbe (applicationName: string): Probe {
  return async (entry, timeoutMs) => {
    const client = new pg.Client({ connectionString: entry.url, application_name: `${applicationName} host check` })
    // What the connection ended with, once answered or abandoned, has nobody left to tell.
    client.on('error', () => {})
    let timedOut = false
    // One timer for the connection and the query together, ended the way pg ends its own.
    const timer = setTimeout(() => {
      timedOut = true
      client.connection.stream.destroy()
    }, timeoutMs)
    try {
      await client.connect()
      const { rows } = await client.query<{ read_only: boolean, in_recovery: boolean }>(SESSION_QUERY)
      return { host: client.host, port: client.port, readOnly: rows[0].read_only, inRecovery: rows[0].in_recovery }
    } catch (err) {
      throw timedOut ? new Error(`no answer within ${timeoutMs} ms`) : err
    } finally {
      clearTimeout(timer)
      client.end().catch(() => {})
    }
  }
}

export interface HostFollower {
  /** The pool's client class: each connection opens on the host chosen for it as it opens. */
  Client: typeof pg.Client
  /** The single-host URL of the host chosen last (the first host's until a choice is made). */
  readonly current: string
  /** Chooses again in the background, one choice at a time (a connection of its own was lost). */
  rechoose: () => void
}

/**
 * Connections that follow the read-write server of a host list. Choosing costs each new pooled
 * connection one short-lived connection more than libpq's way (pg cannot reconnect a client it
 * has begun to connect); pooled connections live long, so that is paid rarely. Between the
 * choice and the connection a server could change its role: the write then fails and the check
 * is answered 503, never lost.
 */
export function followHosts (target: DatabaseTarget, o: { budgetMs: number, probe: Probe }): HostFollower {
  let current = target.hosts[0].url
  let choosing: Promise<unknown> | undefined
  class FollowingClient extends pg.Client {
    override connect (): Promise<pg.Client>
    override connect (callback: (err: Error | null, client?: pg.Client) => void): void
    override connect (callback?: (err: Error | null, client?: pg.Client) => void): Promise<pg.Client> | undefined {
      const connected = this.chooseThenConnect()
      if (callback === undefined) return connected
      connected.then((c) => { callback(null, c) }, (err: Error) => { callback(err) })
    }

    private async chooseThenConnect (): Promise<pg.Client> {
      const { entry, landing } = await chooseHost(target, o.probe, o.budgetMs)
      // The pool ends a connection that outlives its budget by destroying its socket: if that
      // happened while the hosts were tried, there is nothing left to connect.
      if (this.connection.stream.destroyed) throw new Error('timeout expired while choosing a host')
      this.host = landing.host
      this.port = landing.port
      // pg reads the host again from here (a password file lookup): the same one.
      const params = (this as unknown as { connectionParameters: { host: string, port: number } }).connectionParameters
      params.host = landing.host
      params.port = landing.port
      current = entry.url
      return await super.connect()
    }
  }
  return {
    Client: FollowingClient,
    get current () { return current },
    rechoose: () => {
      choosing ??= chooseHost(target, o.probe, o.budgetMs)
        .then(({ entry }) => { current = entry.url }, () => {})
        .finally(() => { choosing = undefined })
    }
  }
}
