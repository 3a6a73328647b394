import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { createServer, type Socket } from 'node:net'
import pg from 'pg'
import t, { type Test } from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'
import { openPostgres } from '../../src/store/db.js'
import {
  chooseHost, DatabaseUrlError, followHosts, NoHostForSession, parseDatabaseUrl, sessionProbe, takesSession,
  type DatabaseTarget, type HostEntry, type Landing, type Probe
} from '../../src/store/hosts.js'
import { DATABASE_URL, ON_POSTGRES } from '../helpers.js'
import { until } from '../support/process.js'

/** How pg itself reads a single-host URL: the connection parameters it would connect with. */
function pgReads (url: string): { host: string, port: number, user?: string, password?: string, database?: string } {
  const c = new pg.Client(url)
  return { host: c.host, port: c.port, user: c.user, password: c.password, database: c.database }
}

t.test('a single host is handed to pg exactly as written', async (t) => {
  for (const url of ['postgres://postgres@127.0.0.1:5432/test', 'postgresql://u:p%40ss@db/arbiter?sslmode=disable', 'postgres://u@[::1]:5433/x?target_session_attrs=read-write', 'postgres:///arbiter?host=/var/run/postgresql']) {
    const target = parseDatabaseUrl(url)
    t.equal(target.hosts.length, 1)
    t.equal(target.hosts[0].url, url, url)
  }
  t.equal(parseDatabaseUrl('postgres://u@db:5432/x').sessionTarget, 'any', 'one host: nothing to choose between')
  t.equal(parseDatabaseUrl('postgres://u@db:5432/x').hosts[0].label, 'db:5432')
  t.equal(parseDatabaseUrl('postgres:///x').hosts[0].label, 'the default host')
  t.same(parseDatabaseUrl('postgres://u:a,b@db/x').hosts, [{ label: 'db', url: 'postgres://u:a,b@db/x' }], 'a comma in the password is no host list')
})

t.test('several hosts: one single-host URL each, in order, the rest of the URL kept', async (t) => {
  const target = parseDatabaseUrl('postgres://postgres@127.0.0.1:5433,127.0.0.1:5434/test?target_session_attrs=read-write')
  t.same(target, {
    sessionTarget: 'read-write',
    hosts: [
      { label: '127.0.0.1:5433', url: 'postgres://postgres@127.0.0.1:5433/test' },
      { label: '127.0.0.1:5434', url: 'postgres://postgres@127.0.0.1:5434/test' }
    ]
  })
  const kept = parseDatabaseUrl('postgresql://u@db1,db2/arbiter?sslmode=disable&target_session_attrs=any&options=-c%20search_path%3Dx#frag')
  t.equal(kept.sessionTarget, 'any', 'an explicit any is honoured')
  t.equal(kept.hosts[1].url, 'postgresql://u@db2/arbiter?sslmode=disable&options=-c%20search_path%3Dx')
  t.equal(parseDatabaseUrl('postgres://db1,db2').hosts[1].url, 'postgres://db2', 'no credentials, no path')
  t.equal(parseDatabaseUrl('postgres://u@db1,db2/x').sessionTarget, 'read-write', 'several hosts default to read-write')
  t.equal(parseDatabaseUrl('postgres://u@db1,db2/x?target_session_attrs=primary').sessionTarget, 'primary')
})

t.test('hosts without ports get pg\'s default; IPv6 addresses in brackets', async (t) => {
  const target = parseDatabaseUrl('postgres://u@db1,[::1]:5433,[2001:db8::2],10.0.0.3:6543/x')
  t.same(target.hosts.map((h) => h.label), ['db1', '[::1]:5433', '[2001:db8::2]', '10.0.0.3:6543'])
  t.same(target.hosts.map((h) => pgReads(h.url)).map(({ host, port }) => `${host} ${port}`), ['db1 5432', '::1 5433', '2001:db8::2 5432', '10.0.0.3 6543'])
  t.throws(() => parseDatabaseUrl('postgres://u@db1,::1:5433/x'), /IPv6 address must be written in brackets/)
  t.throws(() => parseDatabaseUrl('postgres://u@db1,[::1/x'), /not a bracketed IPv6 address/)
  t.throws(() => parseDatabaseUrl('postgres://u@db1,[db2]:5432/x'), /not a bracketed IPv6 address/)
  t.throws(() => parseDatabaseUrl('postgres://u@db1,[::1]5432/x'), /only :port may follow/)
})

t.test('a port list in the query: one for all, or one per host', async (t) => {
  const ports = (url: string): number[] => parseDatabaseUrl(url).hosts.map((h) => pgReads(h.url).port)
  t.same(ports('postgres://u@db1,db2/x?port=5433,5434'), [5433, 5434])
  t.same(ports('postgres://u@db1,db2:7000/x?port=5433'), [5433, 5433], 'as in libpq, the query overrides the list')
  t.same(ports('postgres://u@db1:7000,db2/x?port=,5434'), [5432, 5434], 'an empty entry is the default port')
  t.throws(() => parseDatabaseUrl('postgres://u@db1,db2/x?port=1,2,3'), /3 ports for 2 hosts/)
  t.throws(() => parseDatabaseUrl('postgres://u@db1/x?port=5433,5434'), /2 ports for 1 host:/)
  t.throws(() => parseDatabaseUrl('postgres://u@db1,db2/x?port=5433,abc'), /port 'abc' is not a number/)
})

t.test('a malformed list is refused with what is wrong', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['postgres://u@db1,,db2/x', /empty entry/],
    ['postgres://u@db1,/x', /empty entry/],
    ['postgres://u@db1:0,db2/x', /port '0' is not a number from 1 to 65535/],
    ['postgres://u@db1:70000,db2/x', /port '70000'/],
    ['postgres://u@db1:,db2/x', /port ''/],
    ['postgres://u@:5432,db2/x', /the host is missing/],
    ['postgres://u@db 1,db2/x', /is not a host name/],
    ['postgres://u@db1,db2/x?host=db3', /not in \?host=/],
    ['postgres://u@db1/x?host=db2,db3', /not in \?host=/],
    ['mysql://u@db1,db2/x', /must start with postgres:\/\//]
  ]
  for (const [url, message] of cases) t.throws(() => parseDatabaseUrl(url), message, url)
  t.throws(() => parseDatabaseUrl('postgres://u@db1,db2/x'.replace('db2', 'db2:x')), DatabaseUrlError)
})

t.test('target_session_attrs: only what Arbiter can write to', async (t) => {
  t.throws(() => parseDatabaseUrl('postgres://u@db1,db2/x?target_session_attrs=read_write'), /target_session_attrs=read_write is not one of any, read-write, primary/)
  t.throws(() => parseDatabaseUrl('postgres://u@db1/x?target_session_attrs=rw'), /is not one of/, 'one host too: a typo is not ignored')
  for (const v of ['read-only', 'standby', 'prefer-standby']) {
    t.throws(() => parseDatabaseUrl(`postgres://u@db1,db2/x?target_session_attrs=${v}`), /would choose a server that refuses writes/, v)
  }
  t.equal(parseDatabaseUrl('postgres://u@db1,db2/x?target_session_attrs=any&target_session_attrs=primary').sessionTarget, 'primary', 'the last one wins, as in libpq')
})

t.test('passwords with special characters: the hosts are found, pg reads the same password', async (t) => {
  const secret = 'p@ss:w,rd/?#%[]& é'
  const encoded = `postgres://arb%20iter:${encodeURIComponent(secret)}@db1:5433,[::1]:5434/arbiter`
  for (const h of parseDatabaseUrl(encoded).hosts) t.match(pgReads(h.url), { user: 'arb iter', password: secret, database: 'arbiter' })
  // Unencoded '@', ':' and ',' in a password read as a URL parser reads them: up to the last '@'.
  const raw = parseDatabaseUrl('postgres://u:a,b@c:d@db1,db2/x')
  t.same(raw.hosts.map((h) => h.label), ['db1', 'db2'])
  t.match(pgReads(raw.hosts[1].url), { host: 'db2', user: 'u', password: 'a,b@c:d' })
  const err = t.throws(() => parseDatabaseUrl('postgres://u:hunter2@db1,db 2/x')) as Error
  t.notMatch(err.message, /hunter2/, 'a message never quotes the password')
})

t.test('the configuration takes a host list and refuses a malformed one before anything starts', async (t) => {
  const list = 'postgres://arbiter:s3cret@db1:5432,db2:5432/arbiter?target_session_attrs=read-write'
  t.equal(loadConfig({ DATABASE_URL: list }).databaseUrl, list, 'kept as written: openPostgres reads it')
  const err = t.throws(() => loadConfig({ DATABASE_URL: 'postgres://arbiter:s3cret@db1:5432,db2:5432/arbiter?target_session_attrs=standby' })) as ConfigError
  t.type(err, ConfigError)
  t.match(err.problems, [/^DATABASE_URL: target_session_attrs=standby would choose a server that refuses writes/])
  t.notMatch(err.message, /s3cret/)
  t.match((t.throws(() => loadConfig({ DATABASE_URL: 'postgres://u@db1,db2:99999/x' })) as ConfigError).problems, ["DATABASE_URL: port '99999' is not a number from 1 to 65535"])
})

const landing = (readOnly: boolean, inRecovery: boolean): Landing => ({ host: 'h', port: 5432, readOnly, inRecovery })

t.test('which sessions each target takes', async (t) => {
  t.same([takesSession('read-write', landing(false, false)), takesSession('read-write', landing(true, false)), takesSession('read-write', landing(true, true))], [true, false, false])
  t.same([takesSession('primary', landing(true, false)), takesSession('primary', landing(true, true))], [true, false])
  t.equal(takesSession('any', landing(true, true)), true)
})

/** A target over hosts a, b, c… and a probe answering from `states` (an Error: unreachable). */
function fakeHosts (sessionTarget: DatabaseTarget['sessionTarget'], states: Record<string, Landing | Error>): { target: DatabaseTarget, probe: Probe, asked: string[] } {
  const asked: string[] = []
  const target = { sessionTarget, hosts: Object.keys(states).map((label) => ({ label, url: `postgres://${label}/x` })) }
  const probe: Probe = async (entry: HostEntry) => {
    asked.push(entry.label)
    const state = states[entry.label]
    if (state instanceof Error) throw state
    return state
  }
  return { target, probe, asked }
}

t.test('the choice: the first host, in order, that takes the session', async (t) => {
  const standbyFirst = fakeHosts('read-write', { a: new Error('connect ECONNREFUSED'), b: landing(true, true), c: landing(false, false), d: landing(false, false) })
  const chosen = await chooseHost(standbyFirst.target, standbyFirst.probe, 1000)
  t.equal(chosen.entry.label, 'c')
  t.same(standbyFirst.asked, ['a', 'b', 'c'], 'in order, stopping at the first that fits')

  const any = fakeHosts('any', { a: new Error('down'), b: landing(true, true) })
  t.equal((await chooseHost(any.target, any.probe, 1000)).entry.label, 'b', 'any: the first that answers')

  const none = fakeHosts('read-write', { a: new Error('connect ECONNREFUSED 127.0.0.1:5433'), b: landing(true, true), c: landing(true, false) })
  const err = await chooseHost(none.target, none.probe, 1000).catch((e: unknown) => e)
  t.type(err, NoHostForSession)
  t.equal((err as Error).message, 'no read-write server among the hosts: a: connect ECONNREFUSED 127.0.0.1:5433; b: a standby in recovery; c: read-only')
  const unreachable = fakeHosts('any', { a: new Error('down') })
  t.match(await chooseHost(unreachable.target, unreachable.probe, 1000).catch((e: unknown) => e), { message: /^no reachable server among the hosts: a: down$/ })
})

t.test('the budget bounds the whole choice; each host gets a fair share of what is left', async (t) => {
  let clock = 0
  const shares: number[] = []
  // Every host swallows packets: each probe uses its whole share.
  const silent: Probe = async (_entry, timeoutMs) => {
    shares.push(timeoutMs)
    clock += timeoutMs
    throw new Error(`no answer within ${timeoutMs} ms`)
  }
  const target = parseDatabaseUrl('postgres://db1,db2,db3/x')
  const err = await chooseHost(target, silent, 900, () => clock).catch((e: unknown) => e) as Error
  t.same(shares, [300, 300, 300], 'a silent first host does not spend the others\' time')
  t.equal(clock, 900)
  t.match(err.message, /db3: no answer within 300 ms/)

  clock = 0
  shares.length = 0
  const greedy: Probe = async (_entry, timeoutMs) => { shares.push(timeoutMs); clock += 1000; throw new Error('slow') }
  const spent = await chooseHost(target, greedy, 900, () => clock).catch((e: unknown) => e) as Error
  t.same(shares, [300], 'a probe that overran its share leaves nothing for the rest')
  t.match(spent.message, /db2: not tried, the 900 ms were spent; db3: not tried/)
})

/** A TCP server that accepts connections and never says a word: a server that hangs. */
async function silentServer (t: Test): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((s) => { sockets.add(s) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return (server.address() as { port: number }).port
}

t.test('the probe: bounded by its time, connect and query together', async (t) => {
  const port = await silentServer(t)
  const start = Date.now()
  await t.rejects(sessionProbe('arbiter')({ label: 'silent', url: `postgres://u@127.0.0.1:${port}/x` }, 150), /no answer within 150 ms/)
  t.ok(Date.now() - start < 1000, 'gave up on time')
  await t.rejects(sessionProbe('arbiter')({ label: 'closed', url: 'postgres://u@127.0.0.1:1/x' }, 1000), /ECONNREFUSED/)
})

t.test('a pool of following clients: a connection that cannot be placed fails within the budget', async (t) => {
  const port = await silentServer(t)
  const target = parseDatabaseUrl(`postgres://u@127.0.0.1:1,127.0.0.1:${port}/x`)
  const pool = new pg.Pool({ Client: followHosts(target, { budgetMs: 300, probe: sessionProbe('arbiter') }).Client, connectionString: target.hosts[0].url, connectionTimeoutMillis: 5000 })
  t.teardown(async () => { await pool.end() })
  const start = Date.now()
  await t.rejects(pool.connect(), new RegExp(`^no read-write server among the hosts: 127\\.0\\.0\\.1:1: connect ECONNREFUSED 127\\.0\\.0\\.1:1; 127\\.0\\.0\\.1:${port}: no answer within \\d+ ms$`))
  t.ok(Date.now() - start < 1000, `the choice's own budget ends it: ${Date.now() - start} ms`)

  // A choice that outlives the pool's own timer: the pool has ended the connection already.
  const slow = followHosts(target, { budgetMs: 1000, probe: async () => { await new Promise((resolve) => setTimeout(resolve, 200)); return landing(false, false) } })
  const hurried = new pg.Pool({ Client: slow.Client, connectionString: target.hosts[0].url, connectionTimeoutMillis: 50 })
  t.teardown(async () => { await hurried.end() })
  await t.rejects(hurried.connect(), { message: /connection timeout/, cause: { message: /timeout expired while choosing a host/ } })
  t.equal(slow.current, target.hosts[0].url, 'nothing was chosen for it')
})

t.test('a following client connects where the choice landed; a new choice is made once at a time', async (t) => {
  const target = parseDatabaseUrl('postgres://u@db1:5432,db2:5433/x')
  let probes = 0
  // The second host takes writes, and "lands" on a closed port: the connection itself then fails.
  const follower = followHosts(target, {
    budgetMs: 1000,
    probe: async (entry) => { probes++; return { ...landing(entry.label === 'db1:5432', false), host: '127.0.0.1', port: 1 } }
  })
  t.equal(follower.current, target.hosts[0].url, 'the first host until a choice is made')
  const client = new follower.Client(target.hosts[0].url)
  await t.rejects(client.connect(), /ECONNREFUSED 127\.0\.0\.1:1/)
  t.match(client, { host: '127.0.0.1', port: 1 }, 'it connected where the probe landed')
  t.equal(follower.current, target.hosts[1].url)

  const other = followHosts(target, { budgetMs: 1000, probe: async (entry) => { probes++; return landing(entry.label === 'db1:5432', false) } })
  probes = 0
  other.rechoose()
  other.rechoose()
  await until('the choice', () => other.current === target.hosts[1].url || undefined, 5000)
  t.equal(probes, 2, 'one choice for both calls: each host asked once')
  other.rechoose()
  await until('the second choice', () => probes === 4 || undefined, 5000)
  const failing = followHosts(target, { budgetMs: 1000, probe: async () => { throw new Error('down') } })
  failing.rechoose()
  await sleep(20)
  t.equal(failing.current, target.hosts[0].url, 'a choice that finds no host leaves the last one')
})

t.test('on a server: the pool, its listener and the probe follow the list', { skip: !ON_POSTGRES && 'needs DATABASE_URL' }, async (t) => {
  const server = new URL(DATABASE_URL as string)
  // A host that refuses first, the real server second (URL's host setter stops at the comma).
  const list = (DATABASE_URL as string).replace(/^(postgres(?:ql)?:\/\/(?:[^@/?#]*@)?)/, '$1127.0.0.1:1,')
  t.equal(parseDatabaseUrl(list).hosts.length, 2)
  const db = openPostgres(list, { max: 2, connectionTimeoutMillis: 2000, onError: () => {} })
  t.teardown(async () => { await db.close() })
  const states: boolean[] = []
  const heard: string[] = []
  // The listener starts on the first host (nothing chosen yet), fails, and has the list chosen again.
  const listener = db.listen?.('arbiter_hosts_test', { notify: (p) => heard.push(p), state: (s) => states.push(s) })
  t.teardown(async () => { await listener?.close() })
  await until('the listener to listen', () => states.includes(true) || undefined, 10_000)
  const { rows } = await db.query<{ ok: number }>('select 1 as ok')
  t.same(rows, [{ ok: 1 }], 'the pool connected to the second host')
  await db.query("select pg_notify('arbiter_hosts_test', 'hello')")
  await until('the notification', () => heard.length > 0 || undefined, 10_000)
  t.same(heard, ['hello'], 'the listener followed the list too')

  const probe = sessionProbe('arbiter')
  t.match(await probe({ label: 'server', url: server.href }, 2000), { readOnly: false, inRecovery: false, port: Number(server.port || 5432) })
  const readOnly = new URL(server.href)
  readOnly.searchParams.set('options', '-c default_transaction_read_only=on')
  t.match(await probe({ label: 'read-only', url: readOnly.href }, 2000), { readOnly: true, inRecovery: false }, 'a read-only session is seen as one')
})
