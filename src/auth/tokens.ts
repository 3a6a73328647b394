/**
 * Bearer tokens: 256 random bits, shown once, kept only as sha256. A token's key id is a prefix
 * of its hash, so a presented token finds its row by id and is then compared in constant time,
 * and an operator-chosen token (ARBITER_ADMIN_TOKEN) works the same way as a generated one.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { PRINTABLE } from '../schemas/common.js'

/** Generated tokens start with this, so secret scanners and humans can tell what they are. */
export const TOKEN_PREFIX = 'arb_'
/** The shortest token Arbiter accepts from an operator: 43 base64url characters hold 256 bits. */
export const MIN_TOKEN_LENGTH = 43
/** Tokens are printable ASCII without spaces, at most this long. */
const MAX_TOKEN_LENGTH = 512
const KEY_ID_HEX = 16

export interface TokenIdentity {
  keyId: string
  /** `sha256:<hex>` of the whole token. */
  hash: string
}

/** The id and hash a token is stored under; the token itself is never stored. */
export function identifyToken (token: string): TokenIdentity {
  const hex = createHash('sha256').update(token, 'utf8').digest('hex')
  return { keyId: `key_${hex.slice(0, KEY_ID_HEX)}`, hash: `sha256:${hex}` }
}

/** A fresh token and its identity. */
export function generateToken (): TokenIdentity & { token: string } {
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url')
  return { token, ...identifyToken(token) }
}

/** Whether a string could be a token at all (before any lookup). */
export function isTokenShaped (token: string): boolean {
  return token.length >= MIN_TOKEN_LENGTH && token.length <= MAX_TOKEN_LENGTH && PRINTABLE.test(token)
}

/** Constant-time comparison of a presented token's hash with the stored one. */
export function hashesMatch (presented: string, stored: string): boolean {
  const a = Buffer.from(presented, 'utf8')
  const b = Buffer.from(stored, 'utf8')
  return a.length === b.length && timingSafeEqual(a, b)
}

/** The token in an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken (header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  const match = /^Bearer +(\S+) *$/i.exec(header)
  return match?.[1]
}
