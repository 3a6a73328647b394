/** JSON Web Tokens: three base64url segments whose header and payload decode to JSON objects. */
import { Buffer } from 'node:buffer'
import { isB64Url, isWordChar, runEnd, type Span } from './text.js'

function decodeJsonObject (segment: string, mustHave: string): Record<string, unknown> | undefined {
  const json = Buffer.from(segment, 'base64url').toString('utf8')
  // Most `eyJ…` junk fails these; a thrown JSON.parse costs microseconds, and junk can come by the million.
  if (!json.trimEnd().endsWith('}') || !json.includes(mustHave)) return undefined
  try {
    // The segment starts `eyJ`, which decodes to `{"`: it parses to an object or not at all.
    return JSON.parse(json) as Record<string, unknown>
  } catch {
    return undefined
  }
}

function readJwt (text: string, start: number, headerEnd: number): Span | undefined {
  if (text[headerEnd] !== '.' || !text.startsWith('eyJ', headerEnd + 1)) return undefined
  const payloadEnd = runEnd(text, headerEnd + 1, isB64Url)
  if (text[payloadEnd] !== '.') return undefined
  const header = decodeJsonObject(text.slice(start, headerEnd), '"alg"')
  if (typeof header?.alg !== 'string' || decodeJsonObject(text.slice(headerEnd + 1, payloadEnd), '"') === undefined) return undefined
  return { start, end: runEnd(text, payloadEnd + 1, isB64Url) }
}

export function findJwts (text: string): Span[] {
  const spans: Span[] = []
  let at = text.indexOf('eyJ')
  while (at !== -1) {
    if (isWordChar(text.charCodeAt(at - 1))) {
      at = text.indexOf('eyJ', at + 3)
      continue
    }
    const headerEnd = runEnd(text, at, isB64Url)
    const span = readJwt(text, at, headerEnd)
    if (span !== undefined) spans.push(span)
    // Resuming after the first segment keeps this linear: each segment is read at most twice
    // (once as a payload, once as a header). The cost is missing a JWT glued by `-` onto the
    // end of an `eyJ…` run that is not one.
    at = text.indexOf('eyJ', span?.end ?? headerEnd)
  }
  return spans
}
