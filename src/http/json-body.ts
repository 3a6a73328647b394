/**
 * JSON bodies parsed strictly. A body that names a key twice (`"tenant_id":"b","tenant_id":"a"`)
 * is refused: JSON.parse keeps the last one, while a proxy, a WAF or a log reader in front of
 * Arbiter may act on the first, so the two would judge different jobs.
 */
import type { FastifyInstance } from 'fastify'
import { errorFor } from '../errors/index.js'

/** The first key that an object of valid JSON `text` holds twice, or undefined. Linear in the text. */
export function duplicateKey (text: string): string | undefined {
  // One entry per open container: the keys seen so far of an object, null for an array.
  const open: Array<Set<string> | null> = []
  let atKey = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      let end = i + 1
      let escaped = false
      for (let d = text.charCodeAt(end); d !== 0x22; d = text.charCodeAt(end)) {
        if (d === 0x5c) {
          escaped = true
          end += 2
        } else {
          end++
        }
      }
      if (atKey) {
        // "\u0074enant_id" is tenant_id: keys are compared as JSON.parse reads them.
        const key = escaped ? JSON.parse(text.slice(i, end + 1)) as string : text.slice(i + 1, end)
        const keys = open[open.length - 1] as Set<string>
        if (keys.has(key)) return key
        keys.add(key)
        atKey = false
      }
      i = end
    } else if (c === 0x7b) {
      open.push(new Set())
      atKey = true
    } else if (c === 0x5b) {
      open.push(null)
      atKey = false
    } else if (c === 0x7d || c === 0x5d) {
      open.pop()
      atKey = false
    } else if (c === 0x2c) {
      atKey = open[open.length - 1] instanceof Set
    }
  }
  return undefined
}

/** Replaces fastify's JSON parser with the same one (prototype poisoning refused) plus the duplicate-key check. */
export function parseJsonStrictly (app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    parse(request, body as string, (err: Error | null, value?: unknown) => {
      if (err !== null) return done(err)
      const dup = duplicateKey(body as string)
      if (dup !== undefined) return done(errorFor('duplicateJsonKey', dup))
      done(null, value)
    })
  })
}
