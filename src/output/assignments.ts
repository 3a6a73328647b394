/** Values assigned to secret-named keys: `password=…`, `"client_secret": "…"`, `x-api-key: …`. */
import { isB64Url, type Span } from './text.js'

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

export function findPasswordAssignments (text: string): Span[] {
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
