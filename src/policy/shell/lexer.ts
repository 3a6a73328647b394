/**
 * The shell lexer: source text → words, operators and redirections. A word's value is the
 * word after quote removal, with every expansion ($VAR, ${…}, $((…)), $(…), `…`) kept as
 * written, so the analyzer can still see what was substituted. The commands inside a
 * substitution go to the parser through `hooks` as they are met: each character is read once.
 */

export class ShellSyntaxError extends Error {}

export interface WordToken {
  kind: 'word'
  value: string
  raw: string
  start: number
  end: number
  /** Where in `value` an unquoted `{`, `,` or `}` stands, for brace expansion. */
  braces: number[]
}

export type Token =
  | WordToken
  | { kind: 'op' | 'redirect', op: string, start: number, end: number }
  | { kind: 'newline' | 'eof', start: number, end: number }

export interface LexerHooks {
  /** Called just past `$(`: parse a command list and consume its closing `)`. */
  substitution: () => void
  /** Called with the text between backticks, its backslash escapes undone. */
  backtick: (inner: string) => void
  /** Runs `fn` one nesting level deeper (the parser enforces the limit). */
  nested: <T>(fn: () => T) => T
}

// A carriage return counts as a blank (bash makes it part of the word): a command pasted with
// CRLF line ends reads as meant, and `rm -rf /\r` is still seen to aim at `/`.
const BLANK = new Set([' ', '\t', '\r'])
const META = new Set([' ', '\t', '\r', '\n', ';', '&', '|', '(', ')', '<', '>'])
// Longest first, so `&&` is not read as two `&`.
const OPERATORS = ['&&', '||', '|&', ';;&', ';;', ';&', ';', '&', '|', '(', ')']
const REDIRECTS = ['&>>', '&>', '>>', '>|', '>&', '<<<', '<<-', '<<', '<>', '<&', '>', '<']
const IO_NUMBER = /\d+(?=[<>])/y
const NAME = /[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-]/y
const ASSIGNMENT_PREFIX = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=$/
const ANSI_ESCAPE = /\\(x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{1,4}|U[0-9a-fA-F]{1,8}|[0-7]{1,3}|[\s\S])/g
const ANSI_SIMPLE: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', v: '\v' }

export class Lexer {
  pos = 0
  private cached: Token | undefined

  constructor (readonly src: string, private readonly hooks: LexerHooks) {}

  peek (): Token {
    this.cached ??= this.lex()
    return this.cached
  }

  next (): Token {
    const token = this.peek()
    this.cached = undefined
    return token
  }

  private lex (): Token {
    this.skipBlanks(false)
    const start = this.pos
    const c = this.src[start]
    if (c === undefined) return { kind: 'eof', start, end: start }
    if (c === '\n') { this.pos++; return { kind: 'newline', start, end: this.pos } }
    IO_NUMBER.lastIndex = start
    const fd = IO_NUMBER.exec(this.src)?.[0] ?? ''
    const redirect = REDIRECTS.find((r) => this.src.startsWith(r, start + fd.length))
    if (redirect !== undefined) return this.redirect(start, fd.length, redirect)
    const op = OPERATORS.find((o) => this.src.startsWith(o, start))
    if (op === undefined) return this.readWord()
    if (op.startsWith(';;') || op === ';&') throw new ShellSyntaxError('case … esac is not supported')
    this.pos += op.length
    return { kind: 'op', op, start, end: this.pos }
  }

  private redirect (start: number, fdLength: number, op: string): Token {
    const at = start + fdLength
    if (op === '<<' || op === '<<-') throw new ShellSyntaxError('here-documents (<<) are not supported')
    if ((op === '<' || op === '>') && this.src[at + 1] === '(') throw new ShellSyntaxError('process substitution is not supported')
    this.pos = at + op.length
    return { kind: 'redirect', op, start, end: this.pos }
  }

  /** Blanks, line continuations and comments; with `newlines`, newlines too. */
  skipBlanks (newlines: boolean): void {
    for (;;) {
      const c = this.src[this.pos]
      if (BLANK.has(c) || (newlines && c === '\n')) this.pos++
      else if (c === '\\' && this.src[this.pos + 1] === '\n') this.pos += 2
      // A comment starts only where a word could start, which is always here.
      else if (c === '#') while (this.pos < this.src.length && this.src[this.pos] !== '\n') this.pos++
      else return
    }
  }

  readWord (): WordToken {
    const start = this.pos
    const braces: number[] = []
    let value = ''
    while (this.pos < this.src.length) {
      const c = this.src[this.pos]
      if (c === '(' && ASSIGNMENT_PREFIX.test(this.src.slice(start, this.pos))) value += this.hooks.nested(() => this.readArray())
      else if (META.has(c)) break
      else if (c === '\\') value += this.readEscape()
      else if (c === "'") value += this.readSingle()
      else if (c === '"') value += this.readDouble()
      else if (c === '$') value += this.readDollar(false)
      else if (c === '`') value += this.readBacktick(false)
      else {
        if (c === '{' || c === ',' || c === '}') braces.push(value.length)
        value += c
        this.pos++
      }
    }
    return { kind: 'word', value, raw: this.src.slice(start, this.pos), start, end: this.pos, braces }
  }

  private readEscape (): string {
    const c = this.src[this.pos + 1]
    if (c === undefined) throw new ShellSyntaxError('trailing backslash')
    this.pos += 2
    return c === '\n' ? '' : c
  }

  private readSingle (): string {
    const end = this.src.indexOf("'", this.pos + 1)
    if (end === -1) throw new ShellSyntaxError('unbalanced single quote')
    const value = this.src.slice(this.pos + 1, end)
    this.pos = end + 1
    return value
  }

  private readDouble (): string {
    let value = ''
    this.pos++
    for (;;) {
      const c = this.src[this.pos]
      if (c === undefined) throw new ShellSyntaxError('unbalanced double quote')
      if (c === '"') { this.pos++; return value }
      if (c === '\\') {
        const n = this.src[this.pos + 1]
        // Inside double quotes a backslash escapes only these; before anything else it stays.
        if (n !== undefined && '$`"\\\n'.includes(n)) { value += n === '\n' ? '' : n; this.pos += 2 } else { value += c; this.pos++ }
      } else if (c === '$') value += this.readDollar(true)
      else if (c === '`') value += this.readBacktick(true)
      else { value += c; this.pos++ }
    }
  }

  private readDollar (inDouble: boolean): string {
    const start = this.pos
    const n = this.src[start + 1]
    if (n === '(' && this.src[start + 2] === '(') {
      this.pos += 3
      this.hooks.nested(() => this.readArithmetic('$(('))
    } else if (n === '(') {
      this.pos += 2
      this.hooks.nested(() => this.hooks.substitution())
    } else if (n === '{') {
      this.pos += 2
      this.hooks.nested(() => this.readBraced(inDouble))
    } else if (n === "'" && !inDouble) {
      return this.readAnsi()
    } else if (n === '"' && !inDouble) {
      this.pos++
      return this.readDouble()
    } else {
      NAME.lastIndex = start + 1
      this.pos = start + 1 + (NAME.exec(this.src)?.[0].length ?? 0)
    }
    return this.src.slice(start, this.pos)
  }

  /** `${…}`: read to its closing brace, running any substitution inside. */
  private readBraced (inDouble: boolean): void {
    let open = 0
    for (;;) {
      const c = this.src[this.pos]
      if (c === undefined) throw new ShellSyntaxError("unclosed '${'")
      if (c === '}' && open === 0) { this.pos++; return }
      if (c === '\\') this.readEscape()
      else if (c === "'" && !inDouble) this.readSingle()
      else if (c === '"') this.readDouble()
      else if (c === '$') this.readDollar(inDouble)
      else if (c === '`') this.readBacktick(inDouble)
      else {
        if (c === '{') open++
        if (c === '}') open--
        this.pos++
      }
    }
  }

  /** Just past `$((` or `((`: read to the matching `))`, running any substitution inside. */
  readArithmetic (opener: string): void {
    let open = 0
    for (;;) {
      const c = this.src[this.pos]
      if (c === undefined) throw new ShellSyntaxError(`unclosed '${opener}'`)
      if (c === ')' && open === 0) {
        if (this.src[this.pos + 1] !== ')') throw new ShellSyntaxError(`'${opener}' closed by a single ')'`)
        this.pos += 2
        return
      }
      if (c === '\\') this.readEscape()
      else if (c === "'") this.readSingle()
      else if (c === '"') this.readDouble()
      else if (c === '$') this.readDollar(false)
      else if (c === '`') this.readBacktick(false)
      else {
        if (c === '(') open++
        if (c === ')') open--
        this.pos++
      }
    }
  }

  private readBacktick (inDouble: boolean): string {
    const start = this.pos
    let inner = ''
    for (this.pos++; ; this.pos++) {
      const c = this.src[this.pos]
      if (c === undefined) throw new ShellSyntaxError('unbalanced backtick')
      if (c === '`') break
      const n = this.src[this.pos + 1]
      if (c === '\\' && n !== undefined && ('$`\\'.includes(n) || (inDouble && n === '"'))) { inner += n; this.pos++ } else inner += c
    }
    this.pos++
    this.hooks.nested(() => this.hooks.backtick(inner))
    return this.src.slice(start, this.pos)
  }

  /** `$'…'`: bash's ANSI-C quoting, decoded so `$'\x72m'` is seen as `rm`. */
  private readAnsi (): string {
    let end = this.pos + 2
    while (end < this.src.length && this.src[end] !== "'") end += this.src[end] === '\\' ? 2 : 1
    if (end >= this.src.length) throw new ShellSyntaxError('unbalanced $\' quote')
    const body = this.src.slice(this.pos + 2, end)
    this.pos = end + 1
    return body.replace(ANSI_ESCAPE, (all, e: string) => {
      if (e.length === 1 && !/[0-7]/.test(e)) return ANSI_SIMPLE[e] ?? ('\\\'"?'.includes(e) ? e : all)
      const code = /^[0-7]/.test(e) ? parseInt(e, 8) : parseInt(e.slice(1), 16)
      return code <= 0x10ffff ? String.fromCodePoint(code) : all
    })
  }

  /** `NAME=(a b c)`: a bash array assignment, read whole as part of the word. */
  private readArray (): string {
    const start = this.pos
    this.pos++
    for (;;) {
      this.skipBlanks(true)
      const c = this.src[this.pos]
      if (c === undefined) throw new ShellSyntaxError('unclosed array assignment')
      if (c === ')') { this.pos++; return this.src.slice(start, this.pos) }
      if (META.has(c)) throw new ShellSyntaxError(`unexpected '${c}' in array assignment`)
      this.readWord()
    }
  }

  /**
   * The words of `[[ … ]]`, after its `[[`: inside, `&&`, `<`, `(` and the like are operands
   * of the test, not shell operators.
   */
  readConditional (): WordToken[] {
    const words: WordToken[] = []
    for (;;) {
      this.skipBlanks(true)
      const c = this.src[this.pos]
      if (c === undefined) throw new ShellSyntaxError("unclosed '[['")
      const start = this.pos
      if (META.has(c)) {
        const op = ['&&', '||', '(', ')', '<', '>'].find((o) => this.src.startsWith(o, start))
        if (op === undefined) throw new ShellSyntaxError(`unexpected '${c}' in [[ … ]]`)
        this.pos += op.length
        words.push({ kind: 'word', value: op, raw: op, start, end: this.pos, braces: [] })
        continue
      }
      const word = this.readWord()
      words.push(word)
      if (word.raw === ']]') return words
    }
  }
}
