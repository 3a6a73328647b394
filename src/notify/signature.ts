/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): a receiver that holds the
 * secret checks `webhook-signature` = "v1," + base64(HMAC-SHA256(secret, id.timestamp.body)),
 * the secret given as `whsec_` + base64 of its bytes. Pure: no I/O.
 */
import { createHmac } from 'node:crypto'

const SECRET = /^whsec_([A-Za-z0-9+/]+={0,2})$/

/** The secret's bytes, or undefined if it is not `whsec_` + base64 of 24 to 64 bytes. */
export function parseSecret (text: string): Buffer | undefined {
  const m = SECRET.exec(text)
  if (m === null) return undefined
  const bytes = Buffer.from(m[1], 'base64')
  // Buffer.from ignores what is not base64; a round trip tells a clean encoding from a mangled one.
  if (bytes.toString('base64').replace(/=+$/, '') !== m[1].replace(/=+$/, '')) return undefined
  return bytes.length >= 24 && bytes.length <= 64 ? bytes : undefined
}

/** The `webhook-signature` header of one message. */
export function signature (secret: Buffer, id: string, timestampSec: number, body: string): string {
  return `v1,${createHmac('sha256', secret).update(`${id}.${timestampSec}.${body}`, 'utf8').digest('base64')}`
}
