/**
 * Throwaway Postgres clusters from the server binaries installed on this machine (Debian's
 * /usr/lib/postgresql/<version>/bin): a primary and a synchronous standby streaming from it,
 * for tests of what a failover does to Arbiter. Each cluster lives in a temp directory and
 * listens on a free port of 127.0.0.1 only (no Unix socket), so the test runs beside others and
 * twice in a row; the test's teardown stops both and removes everything.
 */
import { execFile } from 'node:child_process'
import { appendFileSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import type { Test } from 'tap'
import { until } from './process.js'

const TOOLS = ['initdb', 'pg_ctl', 'pg_basebackup', 'postgres'] as const
/** What the standby calls itself on the primary; synchronous_standby_names names it. */
export const STANDBY_NAME = 'arbiter_standby'

/** The newest Postgres server binaries here, or undefined where none are installed. */
export function postgresBin (root = '/usr/lib/postgresql'): string | undefined {
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : []
  return versions.map((v) => path.join(root, v, 'bin')).find((bin) => TOOLS.every((tool) => existsSync(path.join(bin, tool))))
}

/**
 * Postgres refuses to run as root. As root, its tools run as the `postgres` user (which
 * Debian's server package creates) and the directories are handed to it.
 */
function serverUser (): { prefix: string[], uid: number, gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'))
  if (line === undefined) throw new Error('running as root, and there is no postgres user to run the Postgres server as')
  const [, , uid, gid] = line.split(':')
  return { prefix: ['runuser', '-u', 'postgres', '--'], uid: Number(uid), gid: Number(gid) }
}

export interface Cluster {
  readonly name: string
  readonly port: number
  readonly dataDir: string
  /** The postgres superuser's URL of database `postgres` on this cluster alone. */
  readonly url: string
  /** The postmaster's process id, as its postmaster.pid file says. */
  postmasterPid: () => number
}

export interface ReplicatedPair {
  primary: Cluster
  standby: Cluster
  /** Ends the standby's recovery (`pg_ctl promote`), waiting until it takes writes. */
  promote: (cluster: Cluster) => Promise<void>
  /** Both clusters' server logs, for a failing test to show. */
  logs: () => string
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/**
 * Starts a primary on a free port and a standby made from it with pg_basebackup, streaming and
 * synchronous: a commit on the primary returns only once the standby has flushed it. Durable
 * as a real pair is (fsync on); only initdb's own files are not synced, as nothing depends on
 * them surviving a crash of this machine.
 */
export async function startReplicatedPair (t: Test, bin: string): Promise<ReplicatedPair> {
  const user = serverUser()
  const base = mkdtempSync(path.join(tmpdir(), 'arbiter-pg-'))
  const started: Cluster[] = []
  t.teardown(async () => { await removeAll(bin, base, started, user) })
  if (user !== undefined) chownSync(base, user.uid, user.gid)
  const run = async (tool: string, args: string[]): Promise<string> => {
    const [command, ...rest] = [...(user?.prefix ?? []), path.join(bin, tool), ...args]
    try {
      // cwd: the server user may not enter the test's own directory.
      return (await promisify(execFile)(command, rest, { cwd: base, timeout: 60_000, env: { PATH: process.env.PATH, LANG: 'C' } })).stdout
    } catch (err) {
      throw new Error(`${tool} ${args.join(' ')} failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`)
    }
  }
  const cluster = (name: string, port: number): Cluster => {
    const dataDir = path.join(base, name)
    return {
      name,
      port,
      dataDir,
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      postmasterPid: () => Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
    }
  }
  const start = async (c: Cluster): Promise<void> => {
    await run('pg_ctl', ['-D', c.dataDir, '-l', `${c.dataDir}.log`, '-w', '-t', '60', 'start'])
    started.push(c)
  }

  const [primaryPort, standbyPort] = [await freePort(), await freePort()]
  const primary = cluster('primary', primaryPort)
  await run('initdb', ['-D', primary.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '--no-instructions', '-E', 'UTF8', '--locale=C'])
  appendFileSync(path.join(primary.dataDir, 'postgresql.conf'), settings({
    port: primaryPort,
    wal_level: 'replica',
    max_wal_senders: 4,
    // The claim under test: a commit waits for the standby to have flushed it.
    synchronous_commit: 'on',
    synchronous_standby_names: `'FIRST 1 (${STANDBY_NAME})'`
  }))
  await start(primary)

  const standby = cluster('standby', standbyPort)
  if (user !== undefined) {
    // pg_basebackup creates the directory as the server user; its parent is the server's already.
    mkdirSync(standby.dataDir, { mode: 0o700 })
    chownSync(standby.dataDir, user.uid, user.gid)
  }
  await run('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', standby.dataDir, '-R', '-X', 'stream', '--checkpoint=fast'])
  // Later lines win: the standby's own port and name, and, once promoted, no standby of its
  // own to wait for (as after a failover that left one server).
  writeFileSync(path.join(standby.dataDir, 'postgresql.auto.conf'), readFileSync(path.join(standby.dataDir, 'postgresql.auto.conf'), 'utf8') + settings({
    port: standbyPort,
    primary_conninfo: `'host=127.0.0.1 port=${primaryPort} user=postgres application_name=${STANDBY_NAME}'`,
    synchronous_standby_names: "''"
  }))
  await start(standby)
  await until('the standby to stream synchronously', async () => await syncState(primary.url) === 'sync' ? true : undefined, 30_000)

  return {
    primary,
    standby,
    promote: async (c) => { await run('pg_ctl', ['-D', c.dataDir, '-w', '-t', '60', 'promote']) },
    logs: () => started.map((c) => `--- ${c.name}\n${readFileSync(`${c.dataDir}.log`, 'utf8')}`).join('\n')
  }
}

/** postgresql.conf lines: small, TCP on 127.0.0.1 only, durable. */
function settings (own: Record<string, string | number>): string {
  const all = { listen_addresses: "'127.0.0.1'", unix_socket_directories: "''", shared_buffers: "'16MB'", max_connections: 40, fsync: 'on', ...own }
  return '\n' + Object.entries(all).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n'
}

async function syncState (url: string): Promise<string | undefined> {
  const c = new pg.Client(url)
  c.on('error', () => {})
  try {
    await c.connect()
    const { rows } = await c.query<{ sync_state: string }>('select sync_state from pg_stat_replication where application_name = $1', [STANDBY_NAME])
    return rows[0]?.sync_state
  } finally {
    await c.end().catch(() => {})
  }
}

/**
 * Stops every cluster at once (immediate: nothing to keep), ends whatever server process is
 * left in their directories, and removes them. A backend orphaned by a killed postmaster
 * leaves on its own once it notices, but not always before the teardown; each Postgres
 * process is its own session leader and keeps its data directory as its working directory,
 * so that, not a process group, is how they are found.
 */
async function removeAll (bin: string, base: string, clusters: Cluster[], user: ReturnType<typeof serverUser>): Promise<void> {
  await Promise.all(clusters.map(async (c) => {
    const [command, ...rest] = [...(user?.prefix ?? []), path.join(bin, 'pg_ctl'), '-D', c.dataDir, '-m', 'immediate', '-w', 'stop']
    await promisify(execFile)(command, rest, { cwd: base, timeout: 30_000 }).catch(() => {}) // a killed postmaster has nothing to stop
  }))
  for (const pid of processesIn(base)) {
    try { process.kill(pid, 'SIGKILL') } catch { /* gone meanwhile */ }
  }
  rmSync(base, { recursive: true, force: true })
}

/** The processes whose working directory is `dir` or below it (Linux's /proc; none elsewhere). */
function processesIn (dir: string): number[] {
  const pids = existsSync('/proc') ? readdirSync('/proc').filter((p) => /^\d+$/.test(p)) : []
  return pids.filter((pid) => {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`)
      return cwd === dir || cwd.startsWith(dir + path.sep)
    } catch {
      return false // gone, or not ours to see
    }
  }).map(Number)
}
