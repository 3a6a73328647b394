/**
 * One process owns an embedded data directory. PGlite has no server to arbitrate between two
 * processes: a second one opening the same files works on its own copy of the pages and loses
 * what it writes (a key created by the CLI beside a running server vanished). So whoever opens
 * the directory first holds `arbiter.lock`, and everyone else is refused until it lets go.
 *
 * The lock file is created atomically (a hard link of a file already written, so nobody ever
 * reads a half-written lock) and names its owner: pid, host, boot and process start time. A lock
 * whose owner is gone (crash, kill -9, a container restarted with the same pid) is stale and is
 * taken over; the takeover itself is serialized by a second, short-lived lock so two processes
 * breaking the same stale lock cannot both win.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import path from 'node:path'

export const LOCK_FILE = 'arbiter.lock'
const BREAK_SUFFIX = '.break'
/** A takeover that did not finish in this long was interrupted (its process died). */
const BREAK_STALE_MS = 10_000
/** Lock files this process holds: its own pid in one of these is alive, not a previous life. */
const held = new Set<string>()

export interface LockOwner {
  pid: number
  host: string
  /** The kernel's boot id: a pid from another boot is not the same process. */
  boot: string | null
  /** The process's start time in clock ticks since boot (Linux), to tell a reused pid apart. */
  started: string | null
  since: string
}

export class DataDirLocked extends Error {
  constructor (readonly dir: string, readonly owner: LockOwner) {
    super(`the data directory ${dir} is in use by process ${owner.pid} on ${owner.host} (since ${owner.since}); ` +
      'only one Arbiter process may open an embedded database. Stop that process first, or, while it runs, ' +
      'make the change through its HTTP API with an admin token (for keys: POST /keys; see the README), ' +
      'or run with DATABASE_URL pointing at a Postgres server, which many processes may share. ' +
      `If no such process exists, remove ${path.join(dir, LOCK_FILE)}.`)
    this.name = 'DataDirLocked'
  }
}

export interface DataDirLock {
  readonly path: string
  /** Removes the lock if it is still this process's; safe to call twice. */
  release: () => Promise<void>
}

/** Takes the data directory's lock for this process, or throws DataDirLocked naming its owner. */
export async function lockDataDir (dir: string): Promise<DataDirLock> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const lockPath = path.join(dir, LOCK_FILE)
  const me = currentOwner()
  if (held.has(lockPath)) {
    const owner = await readOwner(lockPath)
    throw new DataDirLocked(dir, typeof owner === 'object' ? owner : me)
  }
  const mine = JSON.stringify(me) + '\n'
  // Retried a few times only while another process is mid-takeover of a stale lock.
  for (let attempt = 0; attempt < 50; attempt++) {
    if (await createExclusive(lockPath, mine)) return heldLock(lockPath, mine)
    const owner = await readOwner(lockPath)
    if (owner === 'gone') continue
    if (owner !== 'unreadable' && isAlive(owner)) throw new DataDirLocked(dir, owner)
    if (await breakStale(lockPath, owner === 'unreadable' ? null : owner, mine)) return heldLock(lockPath, mine)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const owner = await readOwner(lockPath)
  throw new DataDirLocked(dir, typeof owner === 'object' ? owner : { ...me, pid: -1, host: 'unknown' })
}

function heldLock (lockPath: string, mine: string): DataDirLock {
  held.add(lockPath)
  let released = false
  return {
    path: lockPath,
    release: async () => {
      if (released) return
      released = true
      held.delete(lockPath)
      // Only our own lock is removed: never one a takeover gave to someone else.
      if (await readFile(lockPath, 'utf8').catch(() => '') === mine) await unlink(lockPath).catch(() => {})
    }
  }
}

/** Writes `content` to a temp file and links it into place: false if the lock already exists. */
async function createExclusive (lockPath: string, content: string): Promise<boolean> {
  const temp = `${lockPath}.${process.pid}.${randomBytes(4).toString('hex')}`
  await writeFile(temp, content, { mode: 0o600, flag: 'wx' })
  try {
    await link(temp, lockPath)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  } finally {
    await unlink(temp).catch(() => {})
  }
}

async function readOwner (lockPath: string): Promise<LockOwner | 'gone' | 'unreadable'> {
  let text: string
  try {
    text = await readFile(lockPath, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone'
    throw err
  }
  try {
    const o = JSON.parse(text) as LockOwner
    return Number.isInteger(o.pid) && typeof o.host === 'string' ? o : 'unreadable'
  } catch {
    return 'unreadable'
  }
}

/**
 * Replaces a stale lock with ours, under the takeover lock. Re-reads the lock there: if it
 * changed since we judged it stale, someone else took over first and we try again from the top.
 */
async function breakStale (lockPath: string, stale: LockOwner | null, mine: string): Promise<boolean> {
  const breaker = lockPath + BREAK_SUFFIX
  if (!await createExclusive(breaker, mine)) {
    const age = Date.now() - (await stat(breaker).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs
    if (age > BREAK_STALE_MS) await unlink(breaker).catch(() => {})
    return false
  }
  try {
    const now = await readOwner(lockPath)
    const same = now === 'unreadable' ? stale === null : now !== 'gone' && stale !== null && JSON.stringify(now) === JSON.stringify(stale)
    if (now !== 'gone' && !same) return false
    if (now !== 'gone') await unlink(lockPath)
    return await createExclusive(lockPath, mine)
  } finally {
    await unlink(breaker).catch(() => {})
  }
}

function currentOwner (): LockOwner {
  return { pid: process.pid, host: hostname(), boot: bootId(), started: startTime(process.pid), since: new Date().toISOString() }
}

/** Whether the process that wrote the lock still runs. Another host's process cannot be seen: it counts as alive. */
export function isAlive (owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true
  const boot = bootId()
  if (owner.boot !== null && boot !== null && owner.boot !== boot) return false
  // Our own pid in a lock this process does not hold: a previous life (a container's pid 1).
  if (owner.pid === process.pid) return false
  try {
    process.kill(owner.pid, 0)
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
  }
  const started = startTime(owner.pid)
  return owner.started === null || started === null || started === owner.started
}

function bootId (): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    /* c8 ignore next: not Linux */
    return null
  }
}

function startTime (pid: number): string | null {
  try {
    // Field 22 of /proc/PID/stat; the command name (field 2) may hold spaces, so count from its ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null
  } catch {
    return null
  }
}
