/**
 * Key lookups for authentication: answered from memory while the database's notifications say
 * nothing changed, otherwise batched the way records are (while a lookup query is on its way,
 * the requests that arrive wait for the next one, which fetches every key id they presented at
 * once).
 *
 * Every change to api_keys is announced on KEYS_CHANNEL (migration 0008), whoever makes it, and
 * forgets that key here. The cache is used only while LISTEN is in force and has been since the
 * answer was read: when the listener is lost, everything cached is dropped and every lookup goes
 * to the database until it is back. So a revocation holds on this instance at once when made
 * here (`invalidate`), on others within the notification's delay, and after at most MAX_AGE_MS
 * should a notification ever be lost unnoticed.
 */
import { performance } from 'node:perf_hooks'
import { getApiKeys, type ApiKeyRow } from '../store/api-keys.js'
import type { Database, Listener, Queryable } from '../store/db.js'

/** Where migration 0008's trigger announces each key that changed (the payload is its id). */
export const KEYS_CHANNEL = 'arbiter_api_keys'

/** Distinct key ids per query; more wait for the next. */
const MAX_IDS = 500
/** Lookups waiting at most; past it a lookup fails at once rather than queueing without bound. */
const MAX_WAITING = 10_000
/** Queries at once: one stalled query must not hold every request of the instance behind it. */
const MAX_QUERIES = 3
/**
 * The longest an answer is served from memory. Only the backstop: notifications forget a changed
 * key within milliseconds, and a lost listener drops the cache at once. It bounds what nothing
 * else does (a notification lost while the connection looks alive) at the cost of one query per
 * key and instance every 30 s, which is nothing next to a query per request.
 */
const MAX_AGE_MS = 30_000
/** Answers held at most: unknown ids are cached too, and anyone can present those. */
const MAX_ENTRIES = 10_000

export interface KeyLookupOptions {
  maxAgeMs?: number
  /** Monotonic milliseconds (tests move their own). */
  now?: () => number
}

interface Entry {
  row: ApiKeyRow | undefined
  /** When the query that read it was sent. */
  at: number
}

/** A query on its way, and which of its answers may already be out of date. */
interface Sent {
  batch: Map<string, Set<Waiter>>
  at: number
  /** Ids changed since it was sent ('all': the listener was out at some point since). */
  stale: Set<string> | 'all'
}

interface Waiter {
  resolve: (row: ApiKeyRow | undefined) => void
  reject: (err: unknown) => void
}

export class KeyLookup {
  private waiting = new Map<string, Set<Waiter>>()
  private count = 0
  private readonly sent = new Set<Sent>()
  private readonly cache = new Map<string, Entry>()
  private listening = false
  private readonly listener: Listener | undefined
  private readonly maxAgeMs: number
  private readonly now: () => number
  /** Queries sent, for tests and the curious. */
  queries = 0

  /** Caches only on a database that can LISTEN; on any other, every lookup is a query. */
  constructor (private readonly db: Queryable & Pick<Database, 'listen'>, options: KeyLookupOptions = {}) {
    this.maxAgeMs = options.maxAgeMs ?? MAX_AGE_MS
    this.now = options.now ?? (() => performance.now())
    this.listener = db.listen?.(KEYS_CHANNEL, {
      notify: (keyId) => { this.invalidate(keyId) },
      // Lost: what was missed is unknown. Back: start from nothing, for the same reason.
      state: (listening) => { this.listening = listening; this.clear() }
    })
  }

  /** Whether answers may come from memory: the listener is in force. */
  get caching (): boolean {
    return this.listening
  }

  /** The key with this id (revoked or not), or undefined; rejects after `timeoutMs`. */
  async get (keyId: string, timeoutMs: number): Promise<ApiKeyRow | undefined> {
    const entry = this.listening ? this.cache.get(keyId) : undefined
    if (entry !== undefined) {
      if (this.now() - entry.at < this.maxAgeMs) return entry.row
      this.cache.delete(keyId)
    }
    if (this.count >= MAX_WAITING) throw new Error('too many key lookups waiting')
    return await new Promise<ApiKeyRow | undefined>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (row) => { clearTimeout(timer); resolve(row) },
        reject: (err) => { clearTimeout(timer); reject(err) }
      }
      // A caller that gave up leaves the queue, so a stall does not fill it with the dead.
      const timer = setTimeout(() => {
        const set = this.waiting.get(keyId)
        if (set?.delete(waiter) === true) {
          this.count--
          if (set.size === 0) this.waiting.delete(keyId)
        }
        reject(new Error(`no answer within ${timeoutMs} ms`))
      }, timeoutMs)
      const set = this.waiting.get(keyId)
      if (set === undefined) this.waiting.set(keyId, new Set([waiter]))
      else set.add(waiter)
      this.count++
      this.next()
    })
  }

  private next (): void {
    if (this.waiting.size === 0 || this.sent.size >= MAX_QUERIES) return
    const batch = new Map<string, Set<Waiter>>()
    for (const [id, waiters] of this.waiting) {
      if (batch.size >= MAX_IDS) break
      batch.set(id, waiters)
      this.waiting.delete(id)
      this.count -= waiters.size
    }
    const sent: Sent = { batch, at: this.now(), stale: this.listening ? new Set() : 'all' }
    this.sent.add(sent)
    this.queries++
    getApiKeys(this.db, [...batch.keys()]).then((found) => {
      const rows = new Map(found.map((r) => [r.key_id, r]))
      for (const [id, waiters] of batch) {
        // Kept only if listened for since before the query was sent, and not changed since.
        if (sent.stale !== 'all' && !sent.stale.has(id)) this.remember(id, { row: rows.get(id), at: sent.at })
        for (const w of waiters) w.resolve(rows.get(id))
      }
    }, (err: unknown) => {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(err)
    }).finally(() => {
      this.sent.delete(sent)
      this.next()
    })
  }

  /** Forgets a key at once (it was just changed here); the notification follows for the others. */
  invalidate (keyId: string): void {
    this.cache.delete(keyId)
    // A query already on its way may have read the key before the change.
    for (const s of this.sent) if (s.stale !== 'all' && s.batch.has(keyId)) s.stale.add(keyId)
  }

  /** Stops listening; lookups go to the database from now on. */
  async close (): Promise<void> {
    this.listening = false
    this.clear()
    await this.listener?.close()
  }

  private clear (): void {
    this.cache.clear()
    for (const s of this.sent) s.stale = 'all'
  }

  private remember (keyId: string, entry: Entry): void {
    // Oldest first in insertion order: a full cache gives up the entry nearest its end.
    this.cache.delete(keyId)
    if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value as string)
    this.cache.set(keyId, entry)
  }
}
