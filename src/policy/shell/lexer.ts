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

interface HereDocument {
  delimiter: string
  /** `<<-`: leading tabs are stripped from each line, the delimiter's too. */
  strip: boolean
  /** A quoted delimiter makes the body plain data; an unquoted one's substitutions run. */
  quoted: boolean
}

export class Lexer {
  pos = 0
  private cached: Token | undefined
  /** Here-documents whose bodies start after the next newline. */
  private pending: HereDocument[] = []

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
    if (c === undefined) {
      if (this.pending.length > 0) throw new ShellSyntaxError(`here-document '${this.pending[0].delimiter}' is never closed`)
      return { kind: 'eof', start, end: start }
    }
    if (c === '\n') {
      this.pos++
      if (this.pending.length > 0) this.readHereDocuments()
      return { kind: 'newline', start, end: this.pos }
    }
    // `<(…)` and `>(…)`: process substitution, a word whose commands run.
    if ((c === '<' || c === '>') && this.src[start + 1] === '(') return this.readWord()
    IO_NUMBER.lastIndex = start
    const fd = IO_NUMBER.exec(this.src)?.[0] ?? ''
    const redirect = REDIRECTS.find((r) => this.src.startsWith(r, start + fd.length))
    if (redirect !== undefined) return this.redirect(start, fd.length, redirect)
    const op = OPERATORS.find((o) => this.src.startsWith(o, start))
    if (op === undefined) return this.readWord()
    this.pos += op.length
    return { kind: 'op', op, start, end: this.pos }
  }

  private redirect (start: number, fdLength: number, op: string): Token {
    const at = start + fdLength
    if ((op === '<' || op === '>') && this.src[at + 1] === '(') throw new ShellSyntaxError('process substitution after a descriptor number is not supported')
    this.pos = at + op.length
    return { kind: 'redirect', op, start, end: this.pos }
  }

  /** Registers a here-document (its delimiter word as lexed); its body is read after the next newline. */
  hereDocument (word: WordToken, strip: boolean): void {
    this.pending.push({ delimiter: word.value, strip, quoted: /['"\\]/.test(word.raw) })
  }

  /** Each pending body, up to its delimiter line; an unquoted body's substitutions are parsed. */
  private readHereDocuments (): void {
    const documents = this.pending
    this.pending = []
    for (const doc of documents) {
      const start = this.pos
      let end = -1
      for (let at = start; at <= this.src.length;) {
        const newline = this.src.indexOf('\n', at)
        const lineEnd = newline === -1 ? this.src.length : newline
        const line = this.src.slice(at, lineEnd)
        if ((doc.strip ? line.replace(/^\t+/, '') : line) === doc.delimiter) {
          end = at
          this.pos = newline === -1 ? lineEnd : newline + 1
          break
        }
        if (newline === -1) break
        at = newline + 1
      }
      if (end === -1) throw new ShellSyntaxError(`here-document '${doc.delimiter}' is never closed`)
      if (!doc.quoted) this.scanHereDocument(start, end)
    }
  }

  /** Runs the substitutions of an unquoted body; everything else in it is data. */
  private scanHereDocument (start: number, end: number): void {
    const after = this.pos
    this.pos = start
    while (this.pos < end) {
      const c = this.src[this.pos]
      if (c === '\\') this.pos += 2
      else if (c === '$') this.readDollar(true)
      else if (c === '`') this.readBacktick(true)
      else this.pos++
    }
    if (this.pos > end) throw new ShellSyntaxError('a substitution in a here-document runs past its end')
    this.pos = after
  }

  /** Blanks, line continuations and comments; with `newlines`, newlines too. */
  skipBlanks (newlines: boolean): void {
    for (;;) {
      const c = this.src[this.pos]
      if (newlines && c === '\n' && this.pending.length > 0) throw new ShellSyntaxError('a here-document inside [[ … ]] or an array is not supported')
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
      else if ((c === '<' || c === '>') && this.src[this.pos + 1] === '(') value += this.readProcessSubstitution()
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

  /** `<(…)` or `>(…)`: kept as written; its commands go to the parser like a `$(…)`'s. */
  private readProcessSubstitution (): string {
    const start = this.pos
    this.pos += 2
    this.hooks.nested(() => this.hooks.substitution())
    return this.src.slice(start, this.pos)
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
