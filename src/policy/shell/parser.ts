/**
 * The parser proper: a recursive descent over the lexer's tokens that records every simple
 * command it meets, with its words as written and its output redirects.
 */
import { expandBraces, MAX_WORDS_PER_COMMAND, type ShellBudget } from './braces.js'
import { Lexer, ShellSyntaxError, type Token, type WordToken } from './lexer.js'
import type { Definitions, SimpleCommand } from './ast.js'

export const MAX_NESTING = 8

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/
const OUTPUT_REDIRECTS = new Set(['>', '>>', '>|', '&>', '&>>', '<>'])
const CLOSERS = new Set(['then', 'elif', 'else', 'fi', 'do', 'done', '}', 'esac', 'in'])
const STOP_THEN = new Set(['then'])
const STOP_ELSE = new Set(['elif', 'else', 'fi'])
const STOP_FI = new Set(['fi'])
const STOP_DO = new Set(['do'])
const STOP_DONE = new Set(['done'])
const STOP_BRACE = new Set(['}'])
const STOP_ESAC = new Set(['esac'])
const NO_STOP = new Set<string>()
const BANG = new Set(['!'])
const IN = new Set(['in'])
const COMPOUND_STARTS = new Set(['{', 'if', 'while', 'until', 'for', 'select'])
// What follows `coproc` when it runs a compound command, maybe after a NAME.
const COPROC_COMPOUND = /[ \t]*(?:([A-Za-z_][A-Za-z0-9_]*)[ \t]+)?(?:\(|(?:\{|if|while|until|for|select|\[\[)(?=[ \t\n;&|()<>]|$))/y

const describe = (tok: Token): string =>
  tok.kind === 'word' ? `'${tok.raw.slice(0, 20)}'` : 'op' in tok ? `'${tok.op}'` : tok.kind === 'eof' ? 'end of input' : 'newline'

const isWord = (tok: Token, words: ReadonlySet<string>): tok is WordToken => tok.kind === 'word' && words.has(tok.raw)
const isOp = (tok: Token, ...ops: string[]): boolean => tok.kind === 'op' && ops.includes(tok.op)
const fail = (message: string): never => { throw new ShellSyntaxError(message) }

export class Parser {
  readonly commands: SimpleCommand[] = []
  private readonly lexer: Lexer

  constructor (private readonly source: string, private depth: number, private readonly budget: ShellBudget, private readonly definitions: Definitions) {
    this.lexer = new Lexer(source, {
      substitution: () => this.parseSubstitution(),
      backtick: (inner) => this.parseBacktick(inner),
      nested: (fn) => this.nested(fn)
    })
    if (depth > MAX_NESTING) fail(`nesting deeper than ${MAX_NESTING} levels`)
  }

  parseProgram (): void {
    this.parseList(NO_STOP)
    const tok = this.lexer.peek()
    if (tok.kind !== 'eof') fail(`unexpected ${describe(tok)}`)
  }

  private nested<T> (fn: () => T): T {
    if (++this.depth > MAX_NESTING) fail(`nesting deeper than ${MAX_NESTING} levels`)
    try {
      return fn()
    } finally {
      this.depth--
    }
  }

  private skipNewlines (): void {
    while (this.lexer.peek().kind === 'newline') this.lexer.next()
  }

  /** And-or lists separated by `;`, `&` or newlines, up to a stop word, `)` or the end; returns how many. */
  private parseList (stops: ReadonlySet<string>): number {
    let count = 0
    for (;;) {
      this.skipNewlines()
      const tok = this.lexer.peek()
      if (tok.kind === 'eof' || isOp(tok, ')', ';;', ';&', ';;&') || isWord(tok, stops)) return count
      const first = this.commands.length
      this.parseAndOr()
      count++
      const sep = this.lexer.peek()
      if (isOp(sep, '&')) this.markAsync(first)
      if (isOp(sep, ';', '&')) this.lexer.next()
      else if (sep.kind !== 'newline') return count
    }
  }

  private parseAndOr (): void {
    const first = this.lexer.peek()
    if (!this.parsePipeline()) fail(`${describe(first)} with no command before it`)
    for (let tok = this.lexer.peek(); isOp(tok, '&&', '||'); tok = this.lexer.peek()) {
      this.lexer.next()
      this.skipNewlines()
      if (!this.parsePipeline()) fail(`${describe(tok)} with no command after it`)
    }
  }

  private parsePipeline (): boolean {
    if (isWord(this.lexer.peek(), BANG)) this.lexer.next()
    const first = this.commands.length
    if (!this.parseCommand()) return false
    let piped = false
    for (let tok = this.lexer.peek(); isOp(tok, '|', '|&'); tok = this.lexer.peek()) {
      this.lexer.next()
      this.skipNewlines()
      if (!this.parseCommand()) fail(`${describe(tok)} with no command after it`)
      piped = true
    }
    if (piped) this.markAsync(first)
    return true
  }

  /** The commands from `first` on run beside the shell: in the background or a pipeline. */
  private markAsync (first: number): void {
    for (let i = first; i < this.commands.length; i++) this.commands[i].async = true
  }

  /** One command of a pipeline; false when none starts here. */
  private parseCommand (): boolean {
    const tok = this.lexer.peek()
    const first = this.commands.length
    if (isOp(tok, '(')) this.parseSubshell(tok)
    else if (tok.kind === 'redirect' || (tok.kind === 'word' && !this.parseCompound(tok))) return this.parseSimple()
    else if (tok.kind !== 'word') return false
    this.parseTrailingRedirects(first)
    return true
  }

  /** A compound command starting at a reserved word; false when `tok` starts a simple command. */
  private parseCompound (tok: WordToken): boolean {
    switch (tok.raw) {
      case '{': this.lexer.next(); this.nested(() => this.body(STOP_BRACE, '{', '}')); return true
      case 'if': this.lexer.next(); this.nested(() => this.parseIf()); return true
      case 'while': case 'until': this.lexer.next(); this.nested(() => this.parseLoop(tok.raw)); return true
      case 'for': case 'select': this.lexer.next(); this.nested(() => this.parseFor(tok.raw)); return true
      case 'function': this.lexer.next(); this.parseFunction(undefined); return true
      case '[[': this.lexer.next(); this.parseConditional(tok); return true
      case 'case': this.lexer.next(); this.nested(() => this.parseCase()); return true
      case 'coproc': return this.parseCoproc(tok)
    }
    if (CLOSERS.has(tok.raw)) fail(`unexpected '${tok.raw}'`)
    return false
  }

  /** `coproc [NAME] COMPOUND`: the compound's commands; `coproc CMD…` is a simple command (a wrapper). */
  private parseCoproc (coproc: WordToken): boolean {
    COPROC_COMPOUND.lastIndex = coproc.end
    const match = COPROC_COMPOUND.exec(this.source)
    if (match === null) return false
    this.lexer.next()
    if (match[1] !== undefined && !COMPOUND_STARTS.has(match[1])) this.lexer.next()
    return this.parseCommand()
  }

  private parseSubshell (open: Token): void {
    this.lexer.next()
    if (this.source[open.end] === '(') {
      // `((…))` is bash arithmetic, not two subshells.
      this.lexer.pos++
      this.nested(() => this.lexer.readArithmetic('(('))
      return
    }
    this.nested(() => {
      if (this.parseList(NO_STOP) === 0) this.unclosedOrEmpty('(')
      this.close('(')
    })
  }

  private parseSubstitution (): void {
    this.parseList(NO_STOP)
    this.close('$(')
  }

  /** Consumes the `)` that closes `opener`. */
  private close (opener: string): void {
    const tok = this.lexer.next()
    if (!isOp(tok, ')')) fail(tok.kind === 'eof' ? `unclosed '${opener}'` : `unexpected ${describe(tok)} in '${opener}'`)
  }

  private parseBacktick (inner: string): void {
    const parser = new Parser(inner, this.depth, this.budget, this.definitions)
    parser.parseProgram()
    for (const command of parser.commands) this.commands.push(command)
  }

  /** A compound list that must not be empty, then its closing reserved word. */
  private body (stops: ReadonlySet<string>, opener: string, closer: string): void {
    if (this.parseList(stops) === 0) this.unclosedOrEmpty(opener)
    this.expect(closer, opener)
  }

  private expect (word: string, opener: string): void {
    const tok = this.lexer.next()
    if (tok.kind === 'word' && tok.raw === word) return
    fail(tok.kind === 'eof' ? `unclosed '${opener}'` : `expected '${word}' after '${opener}', found ${describe(tok)}`)
  }

  private unclosedOrEmpty (opener: string): never {
    const tok = this.lexer.peek()
    return fail(tok.kind === 'eof' ? `unclosed '${opener}'` : `'${opener}' with no command inside`)
  }

  private parseIf (): void {
    this.body(STOP_THEN, 'if', 'then')
    for (;;) {
      if (this.parseList(STOP_ELSE) === 0) this.unclosedOrEmpty('then')
      const tok = this.lexer.next()
      if (tok.kind === 'word' && tok.raw === 'fi') return
      if (tok.kind === 'word' && tok.raw === 'else') return this.body(STOP_FI, 'else', 'fi')
      if (tok.kind === 'word' && tok.raw === 'elif') this.body(STOP_THEN, 'elif', 'then')
      else fail(tok.kind === 'eof' ? "unclosed 'if'" : `unexpected ${describe(tok)} in 'if'`)
    }
  }

  /** `case WORD in [(]PATTERN[|PATTERN…]) LIST ;; … esac`; the patterns are words, not commands. */
  private parseCase (): void {
    if (this.lexer.next().kind !== 'word') fail("'case' without a word")
    this.skipNewlines()
    this.expect('in', 'case')
    for (;;) {
      this.skipNewlines()
      const tok = this.lexer.peek()
      if (isWord(tok, STOP_ESAC)) { this.lexer.next(); return }
      if (tok.kind === 'eof') fail("unclosed 'case'")
      if (isOp(tok, '(')) this.lexer.next()
      for (;;) {
        const pattern = this.lexer.next()
        if (pattern.kind !== 'word') fail(`expected a pattern in 'case', found ${describe(pattern)}`)
        const sep = this.lexer.next()
        if (isOp(sep, ')')) break
        if (!isOp(sep, '|')) fail(`expected ')' after a pattern in 'case', found ${describe(sep)}`)
      }
      this.parseList(STOP_ESAC)
      const end = this.lexer.peek()
      if (isOp(end, ';;', ';&', ';;&')) this.lexer.next()
      else if (!isWord(end, STOP_ESAC)) fail(end.kind === 'eof' ? "unclosed 'case'" : `unexpected ${describe(end)} in 'case'`)
    }
  }

  private parseLoop (keyword: string): void {
    this.body(STOP_DO, keyword, 'do')
    this.body(STOP_DONE, keyword, 'done')
  }

  private parseFor (keyword: string): void {
    const tok = this.lexer.next()
    if (isOp(tok, '(') && this.source[tok.end] === '(') {
      this.lexer.pos++
      this.lexer.readArithmetic('((')
    } else if (tok.kind !== 'word') {
      fail(`'${keyword}' without a variable name`)
    } else {
      this.skipNewlines()
      // The words after `in` are read (their substitutions run) but are not commands.
      if (isWord(this.lexer.peek(), IN)) for (this.lexer.next(); this.lexer.peek().kind === 'word';) this.lexer.next()
    }
    if (isOp(this.lexer.peek(), ';')) this.lexer.next()
    this.skipNewlines()
    this.expect('do', keyword)
    this.body(STOP_DONE, keyword, 'done')
  }

  /** `function NAME [()] BODY`, or (`named` given) the `() BODY` after `NAME`. */
  private parseFunction (named: string | undefined): void {
    const keyword = named === undefined
    const tok = keyword ? this.lexer.next() : undefined
    if (tok !== undefined && tok.kind !== 'word') fail("'function' without a name")
    const name = named ?? (tok as WordToken).value
    if (!keyword || isOp(this.lexer.peek(), '(')) {
      this.lexer.next()
      if (!isOp(this.lexer.next(), ')')) fail("expected ')' in function definition")
    }
    this.skipNewlines()
    const body = this.lexer.peek()
    const compound = isOp(body, '(') || isWord(body, COMPOUND_STARTS)
    if (!compound) fail('a function body must be a compound command')
    const first = this.commands.length
    this.parseCommand()
    // A body that runs the function again beside itself (`:(){ :|:& }`) multiplies without end.
    const selfCalls = this.commands.slice(first).filter((c) => c.argv[0] === name)
    const forkBomb = selfCalls.some((c) => c.async === true) || this.definitions.functions.get(name)?.forkBomb === true
    this.definitions.functions.set(name, { forkBomb })
  }

  /** `[[ … ]]` becomes one command, `[[` to `]]`, whatever operators it holds. */
  private parseConditional (open: WordToken): void {
    const words = this.nested(() => this.lexer.readConditional())
    const all = [open, ...words]
    const end = all[all.length - 1].end
    this.budget.command()
    this.commands.push({
      argv: all.map((w) => w.value),
      words: all.map((w) => ({ raw: w.raw, offset: w.start - open.start })),
      text: this.source.slice(open.start, end),
      redirects: [],
      depth: this.depth,
      assignments: []
    })
  }

  private parseSimple (): true {
    const argv: string[] = []
    const words: WordToken[] = []
    const redirects: string[] = []
    const assignments: string[] = []
    const start = this.lexer.peek().start
    let end = start
    for (let tok = this.lexer.peek(); tok.kind === 'word' || tok.kind === 'redirect'; tok = this.lexer.peek()) {
      this.lexer.next()
      if (tok.kind === 'redirect') {
        const target = this.redirectTarget(tok.op)
        if (target.output) redirects.push(target.word.value)
        end = target.word.end
      } else if (tok.kind === 'word') {
        end = tok.end
        if (argv.length === 0 && ASSIGNMENT.test(tok.raw)) {
          assignments.push(tok.value)
          continue
        }
        for (const value of expandBraces(tok.value, tok.braces, this.budget)) {
          argv.push(value)
          words.push(tok)
        }
        if (argv.length > MAX_WORDS_PER_COMMAND) fail(`a command of more than ${MAX_WORDS_PER_COMMAND} words`)
        if (argv.length === 1 && isOp(this.lexer.peek(), '(')) {
          this.parseFunction(argv[0])
          return true
        }
      }
    }
    this.budget.command()
    this.commands.push({
      argv,
      words: words.map((w) => ({ raw: w.raw, offset: w.start - start })),
      text: this.source.slice(start, end),
      redirects,
      depth: this.depth,
      assignments
    })
    if (argv[0] === 'alias') for (const word of argv.slice(1)) if (word.indexOf('=') > 0) this.definitions.aliases.add(word.slice(0, word.indexOf('=')))
    return true
  }

  private redirectTarget (op: string): { word: WordToken, output: boolean } {
    const word = this.lexer.next()
    if (word.kind !== 'word') return fail(`'${op}' with no target`)
    if (op === '<<' || op === '<<-') this.lexer.hereDocument(word, op === '<<-')
    // `>&2` and `2>&1` duplicate a descriptor; bash reads `>&file` as `&>file`.
    const output = OUTPUT_REDIRECTS.has(op) || (op === '>&' && !/^(\d+|-)$/.test(word.value))
    return { word, output }
  }

  /** Redirects after a compound command apply to every command inside it. */
  private parseTrailingRedirects (first: number): void {
    const inside = this.commands.length
    for (let tok = this.lexer.peek(); tok.kind === 'redirect'; tok = this.lexer.peek()) {
      this.lexer.next()
      const target = this.redirectTarget(tok.op)
      if (!target.output) continue
      for (let i = first; i < inside; i++) this.commands[i].redirects.push(target.word.value)
    }
  }
}
