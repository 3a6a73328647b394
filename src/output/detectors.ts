/**
 * Detectors for secrets and personal data in job output. The output is the caller's (an agent's
 * stdout), so every detector runs in time linear in it: a regex here starts at a literal prefix and
 * repeats a class either a bounded number of times or with nothing after it to backtrack for, and
 * whatever a regex could backtrack over (emails, card numbers, JWTs, assignments) is scanned by hand.
 */
import { Buffer } from 'node:buffer'

export const FINDING_TYPES = ['private_key', 'aws_access_key', 'github_token', 'slack_token', 'jwt', 'password_assignment', 'card_number', 'email'] as const
export type FindingType = typeof FINDING_TYPES[number]
/** Where a secret is, never what it is. Offsets are UTF-16 indexes into the scanned text; line/column are 1-based. */
export interface Finding { type: FindingType, start: number, end: number, line: number, column: number }

interface Span { start: number, end: number }
type Detector = (text: string) => Span[]

const isDigit = (c: number): boolean => c >= 48 && c <= 57
const isAlnum = (c: number): boolean => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
/** Word characters as regex `\b` sees them; NaN (outside the text) is not one. */
const isWordChar = (c: number): boolean => isAlnum(c) || c === 95
const isB64Url = (c: number): boolean => isWordChar(c) || c === 45

function runEnd (text: string, from: number, inRun: (c: number) => boolean): number {
  let i = from
  while (i < text.length && inRun(text.charCodeAt(i))) i++
  return i
}

function regexSpans (text: string, re: RegExp, valueLength = 0): Span[] {
  const spans: Span[] = []
  for (const m of text.matchAll(re)) {
    const end = m.index + m[0].length
    spans.push({ start: valueLength > 0 ? end - valueLength : m.index, end })
  }
  return spans
}

// PEM labels end in "PRIVATE KEY"; PGP armour says "PRIVATE KEY BLOCK". Certificates and public keys do not.
const PRIVATE_LABEL = /^[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?$/

function pemLabel (text: string, from: number): { label: string, end: number } | undefined {
  // Labels are short: looking no further than 64 characters keeps a run of headers linear.
  const close = text.slice(from, from + 64).indexOf('-----')
  return close === -1 ? undefined : { label: text.slice(from, from + close), end: from + close + 5 }
}

function pemEnd (text: string, from: number): number {
  for (let at = text.indexOf('-----END ', from); at !== -1; at = text.indexOf('-----END ', at + 9)) {
    const footer = pemLabel(text, at + 9)
    if (footer !== undefined && PRIVATE_LABEL.test(footer.label)) return footer.end
  }
  // A cut-off key (a truncated log, a truncated scan) is key material up to where the text stops.
  return text.length
}

function findPrivateKeys (text: string): Span[] {
  const spans: Span[] = []
  let at = text.indexOf('-----BEGIN ')
  while (at !== -1) {
    const header = pemLabel(text, at + 11)
    let next = at + 11
    if (header !== undefined && PRIVATE_LABEL.test(header.label)) {
      next = pemEnd(text, header.end)
      spans.push({ start: at, end: next })
    }
    at = text.indexOf('-----BEGIN ', next)
  }
  return spans
}

const AWS_KEY_ID = /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|AKPA)[A-Z0-9]{16}\b/g
// `aws_secret_access_key = …`, `AWS_SECRET_ACCESS_KEY=…`, `"SecretAccessKey": "…"`, also inside escaped JSON.
const AWS_SECRET = /secret[_-]?access[_-]?key\\?["']?[ \t]{0,32}(?:=>|:=|=|:)[ \t]{0,32}\\?["']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/gi

const findAwsKeys: Detector = (text) => [...regexSpans(text, AWS_KEY_ID), ...regexSpans(text, AWS_SECRET, 40)]

const GITHUB_TOKEN = /\bgh[pousr]_[A-Za-z0-9]{36,255}\b/g
const GITHUB_PAT = /\bgithub_pat_[A-Za-z0-9_]{22,255}\b/g
const findGithubTokens: Detector = (text) => [...regexSpans(text, GITHUB_TOKEN), ...regexSpans(text, GITHUB_PAT)]

// Nothing follows the open-ended class, so a match never backtracks into it.
const SLACK_TOKEN = /\bxox[abposr]-[A-Za-z0-9-]{10,}/g
const SLACK_WEBHOOK = /\bhttps?:\/\/hooks\.slack\.com\/services\/T[A-Z0-9]{6,16}\/B[A-Z0-9]{6,16}\/[A-Za-z0-9]{16,64}\b/g
const findSlackTokens: Detector = (text) => [...regexSpans(text, SLACK_TOKEN), ...regexSpans(text, SLACK_WEBHOOK)]

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

function findJwts (text: string): Span[] {
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

// The name ends in one of these (`DB_PASSWORD`, `client_secret`, `x-api-key`, Django's `SECRET_KEY`);
// a name that goes on (`password_policy`, `tokenizer`, `secretary`) is not an assignment of one.
const SECRET_NAME = /passw(?:or)?d|pwd|secret(?:[_-]?key)?|token|api[_-]?key/gi
// Names go on with letters, digits, `_` and `-`: the same characters as base64url.
const isNameChar = isB64Url
const isBlank = (c: number): boolean => c === 32 || c === 9
const BARE_STOP = new Set([' ', '\t', '\n', '\r', ',', ';', '&', '"', "'", '`'])
/**
 * Values that are certainly not a secret: absent, masked, a placeholder, a type name, or a reference to
 * one held elsewhere. A bare value stops at a space, so `<your password>` and `{{ .Values.pw }}` arrive cut.
 */
const NOT_A_SECRET = /^(?:null|nil|none|undefined|true|false|string|str|redacted|\*+|x{3,}|\.{3,}|<[^<>]*>?|\[redacted[^\]]*\]|\$\{[^}]*\}|\$[A-Za-z_]\w*|\$\(.*|\{\{.*|%[A-Za-z_]\w*%)$/i

interface Assigned extends Span { resume: number }

function skipBlanks (text: string, from: number): number {
  let i = from
  while (i < text.length && i - from < 32 && isBlank(text.charCodeAt(i))) i++
  return i
}

/** After a secret name: an optional closing quote, a separator, and the value (the span) with where to resume. */
function readAssignment (text: string, from: number): Assigned | undefined {
  if (isNameChar(text.charCodeAt(from))) return undefined
  let i = from
  if (text[i] === '\\' && text[i + 1] === '"') i += 2
  else if (text[i] === '"' || text[i] === "'") i++
  i = skipBlanks(text, i)
  const sep = text.startsWith(':=', i) || text.startsWith('=>', i) ? 2 : text[i] === '=' || text[i] === ':' ? 1 : 0
  // `password == x` is a comparison, `Token::Kind` a path: neither assigns.
  if (sep === 0 || text[i + sep] === '=' || text[i + sep] === ':') return undefined
  return readValue(text, skipBlanks(text, i + sep))
}

function readValue (text: string, start: number): Assigned {
  const escaped = text[start] === '\\' && text[start + 1] === '"'
  const quote = escaped ? '\\"' : text[start] === '"' || text[start] === "'" || text[start] === '`' ? text[start] : ''
  if (quote === '') {
    let end = start
    while (end < text.length && !BARE_STOP.has(text[end]) && !(text[end] === '\\' && text[end + 1] === '"')) end++
    return { start, end, resume: end }
  }
  const open = start + quote.length
  let end = open
  while (end < text.length && text[end] !== '\n' && !text.startsWith(quote, end)) end += text[end] === '\\' && !escaped ? 2 : 1
  end = Math.min(end, text.length)
  return { start: open, end, resume: Math.min(text.length, end + quote.length) }
}

function findPasswordAssignments (text: string): Span[] {
  const spans: Span[] = []
  const names = new RegExp(SECRET_NAME)
  for (let m = names.exec(text); m !== null; m = names.exec(text)) {
    const value = readAssignment(text, names.lastIndex)
    if (value === undefined) continue
    const literal = text.slice(value.start, value.end)
    // `PWD=/home/me` in an environment dump is the working directory, not a password.
    const isPath = m[0].toLowerCase() === 'pwd' && (literal.startsWith('/') || literal.startsWith('~'))
    if (literal.trim() !== '' && !isPath && !NOT_A_SECRET.test(literal)) spans.push({ start: value.start, end: value.end })
    // Never read a value twice: names inside it are not assignments of their own.
    names.lastIndex = value.resume
  }
  return spans
}

// [prefix length, lowest prefix, highest prefix, card lengths]. Maestro's ranges overlap too much ordinary data to list.
const CARD_BRANDS: ReadonlyArray<readonly [number, number, number, readonly number[]]> = [
  [1, 4, 4, [13, 16, 19]], // Visa
  [2, 51, 55, [16]], [4, 2221, 2720, [16]], // Mastercard
  [2, 34, 34, [15]], [2, 37, 37, [15]], // American Express
  [4, 6011, 6011, [16, 19]], [3, 644, 649, [16, 19]], [2, 65, 65, [16, 19]], // Discover
  [4, 3528, 3589, [16, 17, 18, 19]], // JCB
  [3, 300, 305, [14, 16, 19]], [2, 36, 36, [14, 16, 19]], // Diners Club
  [2, 62, 62, [16, 17, 18, 19]] // UnionPay
]

function luhnValid (digits: string): boolean {
  let sum = 0
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2
    sum += d
  }
  return sum % 10 === 0
}

function isCardNumber (digits: string): boolean {
  if (digits.length < 13 || digits.length > 19 || /^(\d)\1*$/.test(digits)) return false
  const brand = CARD_BRANDS.some(([n, lo, hi, lengths]) => {
    const prefix = Number(digits.slice(0, n))
    return prefix >= lo && prefix <= hi && lengths.includes(digits.length)
  })
  return brand && luhnValid(digits)
}

/** A neighbour that makes the digits part of something else: a word, an identifier, a decimal. */
function joinsNumber (text: string, at: number, dotSide: number): boolean {
  return isWordChar(text.charCodeAt(at)) || (text[at] === '.' && isDigit(text.charCodeAt(dotSide)))
}

const isCardSeparator = (c: string | undefined): boolean => c === ' ' || c === '-'

/**
 * The group after `group` in a chain: runs of at most 6 digits joined by one repeated separator
 * (`4111 1111 1111 1111`, `3782-822463-10005`). A date before a card (`2024-01-15 4111 …`)
 * changes separator, and a longer run is no group: either ends the chain.
 */
function nextGroup (text: string, group: Span, sep: string): Span | undefined {
  if (text[group.end] !== sep || !isDigit(text.charCodeAt(group.end + 1))) return undefined
  const end = runEnd(text, group.end + 1, isDigit)
  return end - group.end - 1 > 6 ? undefined : { start: group.end + 1, end }
}

/**
 * The longest card in a chain that begins with `first`, with the chain's group that ends it. A
 * grouped card opens with a 4-digit group; looking no further than 19 digits keeps a chain of any
 * length linear, whatever digits come before or after the card (a date, an expiry, another card).
 */
function cardFrom (text: string, first: Span, sep: string): { card: Span, last: Span } | undefined {
  if (first.end - first.start !== 4 || joinsNumber(text, first.start - 1, first.start - 2)) return undefined
  let found: { card: Span, last: Span } | undefined
  let digits = ''
  for (let group: Span | undefined = first; group !== undefined; group = nextGroup(text, group, sep)) {
    digits += text.slice(group.start, group.end)
    if (digits.length > 19) break
    if (!joinsNumber(text, group.end, group.end + 1) && isCardNumber(digits)) found = { card: { start: first.start, end: group.end }, last: group }
  }
  return found
}

/** Every card in the chain that begins with `first`, earliest first; returns where the chain ends. */
function cardsInChain (text: string, first: Span, spans: Span[]): number {
  const sep = text[first.end]
  let end = first.end
  for (let group: Span | undefined = first; group !== undefined; group = nextGroup(text, group, sep)) {
    const found = cardFrom(text, group, sep)
    if (found !== undefined) {
      spans.push(found.card)
      group = found.last
    }
    end = group.end
  }
  return end
}

/** A digit run of 7 or more is a card on its own or not at all; shorter runs may be groups of a chain. */
function findCardNumbers (text: string): Span[] {
  const spans: Span[] = []
  let i = 0
  while (i < text.length) {
    if (!isDigit(text.charCodeAt(i))) { i++; continue }
    const run = { start: i, end: runEnd(text, i, isDigit) }
    if (run.end - run.start <= 6 && isCardSeparator(text[run.end])) {
      i = cardsInChain(text, run, spans)
      continue
    }
    if (!joinsNumber(text, run.start - 1, run.start - 2) && !joinsNumber(text, run.end, run.end + 1) && isCardNumber(text.slice(run.start, run.end))) {
      spans.push(run)
    }
    i = run.end
  }
  return spans
}

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

function findEmails (text: string): Span[] {
  const spans: Span[] = []
  for (let at = text.indexOf('@'); at !== -1;) {
    const span = readEmail(text, at)
    if (span !== undefined) spans.push(span)
    at = text.indexOf('@', span?.end ?? at + 1)
  }
  return spans
}

const DETECTORS: Readonly<Record<FindingType, Detector>> = {
  private_key: findPrivateKeys,
  aws_access_key: findAwsKeys,
  github_token: findGithubTokens,
  slack_token: findSlackTokens,
  jwt: findJwts,
  password_assignment: findPasswordAssignments,
  card_number: findCardNumbers,
  email: findEmails
}

/** Every finding in `text`, sorted by start, then widest first, then in FINDING_TYPES order. */
export function detectFindings (text: string): Finding[] {
  const found: Array<Span & { type: FindingType, rank: number }> = []
  FINDING_TYPES.forEach((type, rank) => {
    for (const span of DETECTORS[type](text)) found.push({ type, rank, ...span })
  })
  found.sort((a, b) => a.start - b.start || b.end - a.end || a.rank - b.rank)
  // One sweep over the newlines: findings are sorted, so the line count only moves forward.
  let line = 1
  let lineStart = 0
  let nextNewline = text.indexOf('\n')
  return found.map(({ type, start, end }) => {
    while (nextNewline !== -1 && nextNewline < start) {
      line++
      lineStart = nextNewline + 1
      nextNewline = text.indexOf('\n', lineStart)
    }
    return { type, start, end, line, column: start - lineStart + 1 }
  })
}
