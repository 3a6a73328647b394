/**
 * Key lookups for authentication, batched the way records are: while a lookup query is on its
 * way, the requests that arrive wait for the next one, which fetches every key id they
 * presented at once. Each request is still checked against the database by a query that began
 * after it arrived, so a revocation committed before a request holds for that request on every
 * instance; but under load one query serves many requests instead of one each.
 */
import { getApiKeys, type ApiKeyRow } from '../store/api-keys.js'
import type { Queryable } from '../store/db.js'

/** Distinct key ids per query; more wait for the next. */
const MAX_IDS = 500
/** Lookups waiting at most; past it a lookup fails at once rather than queueing without bound. */
const MAX_WAITING = 10_000
/** Queries at once: one stalled query must not hold every request of the instance behind it. */
const MAX_QUERIES = 3

interface Waiter {
  resolve: (row: ApiKeyRow | undefined) => void
  reject: (err: unknown) => void
}

export class KeyLookup {
  private waiting = new Map<string, Set<Waiter>>()
  private count = 0
  private inflight = 0
  /** Queries sent, for tests and the curious. */
  queries = 0

  constructor (private readonly db: Queryable) {}

  /** The key with this id (revoked or not), or undefined; rejects after `timeoutMs`. */
  async get (keyId: string, timeoutMs: number): Promise<ApiKeyRow | undefined> {
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
    if (this.waiting.size === 0 || this.inflight >= MAX_QUERIES) return
    const batch = new Map<string, Set<Waiter>>()
    for (const [id, waiters] of this.waiting) {
      if (batch.size >= MAX_IDS) break
      batch.set(id, waiters)
      this.waiting.delete(id)
      this.count -= waiters.size
    }
    this.inflight++
    this.queries++
    getApiKeys(this.db, [...batch.keys()]).then((found) => {
      const rows = new Map(found.map((r) => [r.key_id, r]))
      for (const [id, waiters] of batch) for (const w of waiters) w.resolve(rows.get(id))
    }, (err: unknown) => {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(err)
    }).finally(() => {
      this.inflight--
      this.next()
    })
  }
}
