/** A database that fails on demand, for tests of what the app answers when Postgres does not. */
import type { Database } from '../../src/store/db.js'

/**
 * A database that can be made to fail every call, as an unreachable server would; `keysToo`
 * false spares the key lookup, so that what a route does on a failing database can be seen.
 */
export function breakable (db: Database): { db: Database, breakIt: (keysToo?: boolean) => void } {
  let broken = false
  let keys = true
  const fail = async (): Promise<never> => { throw new Error('connection refused') }
  return {
    breakIt: (keysToo = false) => { broken = true; keys = !keysToo },
    db: {
      kind: db.kind,
      query: async (text, params, name) => broken && !(keys && name === 'api-keys-by-id') ? await fail() : await db.query(text, params, name),
      exec: async (script) => broken ? await fail() : await db.exec(script),
      transaction: async (fn) => broken ? await fail() : await db.transaction(fn),
      session: async (fn) => broken ? await fail() : await db.session(fn),
      close: async () => await db.close()
    }
  }
}
