/**
 * Key lookups for authentication, batched the way records are: while one lookup query is on
 * its way, the requests that arrive wait for the next one, which fetches every key id they
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

interface Waiter {
  resolve: (row: ApiKeyRow | undefined) => void
  reject: (err: unknown) => void
}

export class KeyLookup {
  private waiting = new Map<string, Waiter[]>()
  private count = 0
  private running = false
  /** Queries sent, for tests and the curious. */
  queries = 0

  constructor (private readonly db: Queryable) {}

  async get (keyId: string): Promise<ApiKeyRow | undefined> {
    if (this.count >= MAX_WAITING) throw new Error('too many key lookups waiting')
    return await new Promise<ApiKeyRow | undefined>((resolve, reject) => {
      const list = this.waiting.get(keyId)
      if (list === undefined) this.waiting.set(keyId, [{ resolve, reject }])
      else list.push({ resolve, reject })
      this.count++
      // drain() settles every waiter itself and never rejects.
      if (!this.running) this.drain().catch(() => {})
    })
  }

  private async drain (): Promise<void> {
    this.running = true
    try {
      while (this.waiting.size > 0) {
        const batch = new Map<string, Waiter[]>()
        for (const [id, waiters] of this.waiting) {
          if (batch.size >= MAX_IDS) break
          batch.set(id, waiters)
          this.waiting.delete(id)
          this.count -= waiters.length
        }
        this.queries++
        try {
          const rows = new Map((await getApiKeys(this.db, [...batch.keys()])).map((r) => [r.key_id, r]))
          for (const [id, waiters] of batch) for (const w of waiters) w.resolve(rows.get(id))
        } catch (err) {
          for (const waiters of batch.values()) for (const w of waiters) w.reject(err)
        }
      }
    } finally {
      this.running = false
    }
  }
}
