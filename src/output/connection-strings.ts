/** Passwords in database and broker URLs: `postgres://user:password@host/db`, `redis://:password@host`. */
import { NOT_A_SECRET } from './assignments.js'
import type { Span } from './text.js'

// `+srv`, `+psycopg2`, `+asyncpg`: a driver or lookup suffix on the scheme.
const SCHEME = /\b(?:postgres(?:ql)?|mysql|mariadb|mongodb|rediss?|amqps?)(?:\+[a-z0-9]{1,16})?:\/\//gi
// The authority ends where a path, query, fragment, quote, escape or blank begins.
const AUTHORITY_END = new Set(['/', '?', '#', '"', "'", '`', '<', '>', '\\', ' ', '\t', '\n', '\r'])

/** The password in the authority that starts at `from`, and where the authority ends. */
function readPassword (text: string, from: number): { password?: Span, end: number } {
  let end = from
  let lastAt = -1
  let colon = -1
  while (end < text.length && !AUTHORITY_END.has(text[end])) {
    if (text[end] === '@') lastAt = end
    else if (text[end] === ':' && colon === -1) colon = end
    end++
  }
  // As a URL parser reads it, user info runs to the last `@`: a raw `@` in a password stays in it.
  if (colon === -1 || colon > lastAt) return { end }
  return { password: { start: colon + 1, end: lastAt }, end }
}

/**
 * The password of each URL with one; the user name, host and database stay readable. Each
 * authority is read once: a scheme's own `//` ends the authority before it.
 */
export function findConnectionStrings (text: string): Span[] {
  const spans: Span[] = []
  const schemes = new RegExp(SCHEME)
  for (let m = schemes.exec(text); m !== null; m = schemes.exec(text)) {
    const { password, end } = readPassword(text, schemes.lastIndex)
    if (password !== undefined && password.end > password.start && !NOT_A_SECRET.test(text.slice(password.start, password.end))) spans.push(password)
    schemes.lastIndex = Math.max(schemes.lastIndex, end)
  }
  return spans
}
