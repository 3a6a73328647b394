/** Values assigned to secret-named keys: `password=…`, `"client_secret": "…"`, `x-api-key: …`. */
import { isB64Url, shannonEntropy, type Span } from './text.js'

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
export const NOT_A_SECRET = /^(?:null|nil|none|undefined|true|false|string|str|redacted|\*+|x{3,}|\.{3,}|<[^<>]*>?|\[redacted[^\]]*\]|\$\{[^}]*\}|\$[A-Za-z_]\w*|\$\(.*|\{\{.*|%[A-Za-z_]\w*%)$/i

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

/** Each value assigned to a name that ends in a match of `names`, with that match; a value is read once. */
function * assignedValues (text: string, names: RegExp): Generator<{ name: string, value: Span, literal: string }> {
  const re = new RegExp(names)
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const value = readAssignment(text, re.lastIndex)
    if (value === undefined) continue
    const literal = text.slice(value.start, value.end)
    if (literal.trim() !== '' && !NOT_A_SECRET.test(literal)) yield { name: m[0], value: { start: value.start, end: value.end }, literal }
    // Never read a value twice: names inside it are not assignments of their own.
    re.lastIndex = value.resume
  }
}

export function findPasswordAssignments (text: string): Span[] {
  const spans: Span[] = []
  for (const { name, value, literal } of assignedValues(text, SECRET_NAME)) {
    // `PWD=/home/me` in an environment dump is the working directory, not a password.
    const isPath = name.toLowerCase() === 'pwd' && (literal.startsWith('/') || literal.startsWith('~'))
    if (!isPath) spans.push(value)
  }
  return spans
}

// More names than SECRET_NAME (`ENCRYPTION_KEY`, `credentials`, `auth`), since only random values count.
const GENERIC_NAME = /passw(?:or)?d|passphrase|secret(?:[_-]?key)?|token|credentials?|api[_-]?key|(?:access|auth|client|private|signing|encryption|master|app|service|account)[_-]?key|auth/gi
const HEX = /^[0-9a-f-]+$/i
const LETTER = /[A-Za-z]/
const DIGIT = /[0-9]/

/**
 * Made of words (`your-api-key-here`, `my_super_secret_password_123`): every piece between `-`, `_`
 * and `.` is letters in one case, a capitalised word, or digits.
 */
function isWordy (value: string): boolean {
  return value.split(/[-_.]/).every((piece) => /^(?:[a-z]*|[A-Z]*|[A-Z][a-z]+|[0-9]*)$/.test(piece))
}

/**
 * Random enough to be an issued secret: 20+ characters, no blank, letters and digits, not a path
 * or URL, not made of words, and Shannon entropy of at least 3 bits per character for hex (a random
 * 32-digit hex string has about 3.6) or 3.5 for anything else (random base62: about 4 at 20 characters).
 */
export function isRandomSecret (value: string): boolean {
  if (value.length < 20 || /\s/.test(value) || !LETTER.test(value) || !DIGIT.test(value)) return false
  if (value.startsWith('/') || value.startsWith('~') || value.startsWith('./') || value.includes('://') || isWordy(value)) return false
  return shannonEntropy(value) >= (HEX.test(value) ? 3 : 3.5)
}

/**
 * Random-looking values assigned to secret-like names. A hash is judged as any other value: under
 * a secret's name it cannot be told from a hex secret and is flagged; under any other name
 * (`sha256`, `checksum`, `integrity`, `commit`, `password_hash`) nothing is, since the name decides first.
 */
export function findGenericSecrets (text: string): Span[] {
  const spans: Span[] = []
  for (const { value, literal } of assignedValues(text, GENERIC_NAME)) if (isRandomSecret(literal)) spans.push(value)
  return spans
}
