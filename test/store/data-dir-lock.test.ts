/**
 * One process owns an embedded data directory: the lock refuses a second owner, in this process
 * or another, recognizes a stale lock (dead pid, reused pid, other boot, garbage) and lets exactly
 * one of several racing processes take it over.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { DataDirLocked, LOCK_FILE, lockDataDir, type LockOwner } from '../../src/store/data-dir-lock.js'
import { tempDir } from '../helpers.js'
import { childEnv, TYPESCRIPT_ARGS } from '../support/process.js'

const HOLDER = path.join(PACKAGE_ROOT, 'test/fixtures/lock-holder.ts')

function owner (pid: number, extra: Partial<LockOwner> = {}): LockOwner {
  return { pid, host: hostname(), boot: null, started: null, since: '2026-01-01T00:00:00.000Z', ...extra }
}

function writeLock (dir: string, o: LockOwner | string): void {
  writeFileSync(path.join(dir, LOCK_FILE), typeof o === 'string' ? o : JSON.stringify(o))
}

/** The pid of a process that has exited. */
function deadPid (): number {
  const r = spawnSync(process.execPath, ['-e', ''])
  return r.pid as number
}

/** Starts the lock-holder fixture; resolves with what it said first. */
function holder (dir: string, holdMs = 60_000): { said: Promise<string>, done: Promise<void>, stop: () => void } {
  const child = spawn(process.execPath, [...TYPESCRIPT_ARGS, HOLDER, dir, String(holdMs)], { stdio: ['pipe', 'pipe', 'inherit'], env: childEnv(process.env) })
  let out = ''
  const said = new Promise<string>((resolve) => {
    child.stdout.on('data', (d) => {
      out += String(d)
      if (out.includes('\n')) resolve(out.trim())
    })
    child.on('exit', () => resolve(out.trim()))
  })
  const done = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  return { said, done, stop: () => { child.stdin.end() } }
}

t.test('a held lock refuses a second owner in the same process, and is released once', async (t) => {
  const dir = tempDir(t)
  const lock = await lockDataDir(dir)
  const written = JSON.parse(readFileSync(lock.path, 'utf8')) as LockOwner
  t.equal(written.pid, process.pid, 'the lock names its owner')
  t.equal(written.host, hostname())
  await t.rejects(lockDataDir(dir), DataDirLocked, 'our own live lock is not mistaken for a previous life')
  const err = await lockDataDir(dir).then(() => new Error('taken'), (e: unknown) => e as Error)
  t.match(err.message, /in use by process \d+/)
  t.match(err.message, /POST \/keys/, 'the refusal says how to make the change instead')
  t.match(err.message, LOCK_FILE, 'and names the file')
  await lock.release()
  await lock.release()
  t.notOk(existsSync(lock.path), 'released')
  const again = await lockDataDir(dir)
  await again.release()
})

t.test('stale locks are taken over; a live owner is not', async (t) => {
  const dir = tempDir(t)

  writeLock(dir, owner(deadPid()))
  const fromDead = await lockDataDir(dir)
  t.equal((JSON.parse(readFileSync(fromDead.path, 'utf8')) as LockOwner).pid, process.pid, 'a dead pid is stale')
  await fromDead.release()

  writeLock(dir, owner(process.pid))
  const fromPreviousLife = await lockDataDir(dir)
  t.pass('our own pid in a lock we never took is a previous life of this pid (a container restarted as pid 1)')
  await fromPreviousLife.release()

  writeLock(dir, '{"half": ')
  await (await lockDataDir(dir)).release()
  t.pass('an unreadable lock is stale')

  const parent = process.ppid
  writeLock(dir, owner(parent, { boot: 'another-boot' }))
  await (await lockDataDir(dir)).release()
  t.pass('a live pid from another boot is stale')

  writeLock(dir, owner(parent, { started: '1' }))
  await (await lockDataDir(dir)).release()
  t.pass('a live pid with another start time has been reused: stale')

  writeLock(dir, owner(parent))
  await t.rejects(lockDataDir(dir), DataDirLocked, 'a live process on this host holds it')
  writeLock(dir, owner(deadPid(), { host: 'another-host' }))
  await t.rejects(lockDataDir(dir), DataDirLocked, "another host's process cannot be seen: it counts as alive")
})

t.test('another process holding the lock is refused; a crashed one is taken over', async (t) => {
  const dir = tempDir(t)
  const first = holder(dir)
  t.teardown(first.stop)
  t.equal(await first.said, 'locked')
  await t.rejects(lockDataDir(dir), DataDirLocked, 'refused while the other process runs')
  const second = holder(dir)
  t.match(await second.said, /^refused \d+$/, 'a second process is refused too')
  first.stop()
  await first.done
  t.notOk(existsSync(path.join(dir, LOCK_FILE)), 'a clean exit removes the lock')

  const crashed = spawn(process.execPath, [...TYPESCRIPT_ARGS, HOLDER, dir], { stdio: ['pipe', 'pipe', 'inherit'], env: childEnv(process.env) })
  await new Promise<void>((resolve) => crashed.stdout.once('data', () => resolve()))
  crashed.kill('SIGKILL')
  await new Promise((resolve) => crashed.on('exit', resolve))
  t.ok(existsSync(path.join(dir, LOCK_FILE)), 'kill -9 leaves its lock behind')
  const taken = await lockDataDir(dir)
  t.pass('and the next process takes it over')
  await taken.release()
})

t.test('several processes racing for a stale lock: exactly one wins', async (t) => {
  const dir = tempDir(t)
  for (let round = 0; round < 2; round++) {
    writeLock(dir, owner(deadPid()))
    const racers = Array.from({ length: 4 }, () => holder(dir))
    t.teardown(() => { for (const r of racers) r.stop() })
    const said = await Promise.all(racers.map(async (r) => await r.said))
    t.equal(said.filter((s) => s === 'locked').length, 1, `round ${round}: one owner (${said.join(', ')})`)
    t.equal(said.filter((s) => s.startsWith('refused')).length, 3, 'the others refused')
    for (const r of racers) r.stop()
    await Promise.all(racers.map(async (r) => await r.done))
  }
})
