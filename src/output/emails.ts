/** E-mail addresses, conservatively: a real-looking domain with a letters-only TLD. */
import { isAlnum, isWordChar, type Span } from './text.js'

const isLocalChar = (c: number): boolean => isWordChar(c) || c === 46 || c === 37 || c === 43 || c === 45
const isDomainChar = (c: number): boolean => isAlnum(c) || c === 46 || c === 45
// `logo@2x.png` is a retina image, not an address.
const FILE_SUFFIXES = new Set(['png', 'jpg', 'jpeg', 'gif', 'svg', 'webp', 'ico', 'css', 'js', 'json', 'map'])
const DOMAIN_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/

function isEmailDomain (domain: string): boolean {
  const labels = domain.split('.')
  const tld = labels[labels.length - 1]
  return labels.length >= 2 && labels.every((l) => DOMAIN_LABEL.test(l)) && /^[A-Za-z]{2,63}$/.test(tld) && !FILE_SUFFIXES.has(tld.toLowerCase())
}

function readEmail (text: string, at: number): Span | undefined {
  let start = at
  while (start > 0 && at - start < 64 && isLocalChar(text.charCodeAt(start - 1))) start--
  // Longer than RFC 5321's 64 characters is not a local part.
  if (isLocalChar(text.charCodeAt(start - 1))) return undefined
  while (text[start] === '.') start++
  let end = at + 1
  while (end < text.length && end - at <= 254 && isDomainChar(text.charCodeAt(end))) end++
  if (end - at > 254) return undefined
  // A trailing dot or hyphen ends the sentence, not the domain.
  while (text[end - 1] === '.' || text[end - 1] === '-') end--
  if (start >= at || text[at - 1] === '.' || text[end] === '@' || text[end] === '_') return undefined
  // `git@github.com:org/repo` is an scp-style remote, not an address.
  if (text[end] === ':' && end + 1 < text.length && !/\s/.test(text[end + 1])) return undefined
  return isEmailDomain(text.slice(at + 1, end)) ? { start, end } : undefined
}

export function findEmails (text: string): Span[] {
  const spans: Span[] = []
  for (let at = text.indexOf('@'); at !== -1;) {
    const span = readEmail(text, at)
    if (span !== undefined) spans.push(span)
    at = text.indexOf('@', span?.end ?? at + 1)
  }
  return spans
}
