/**
 * Bash brace expansion, `{a,b}` and `{1..3}`, over the braces the lexer saw unquoted. Bash
 * expands braces before anything else, so `{rm,-rf,/}` runs `rm -rf /` and `rm -rf /{tmp,}`
 * deletes `/`: the guard has to see the words bash would.
 */
import { ShellSyntaxError } from './lexer.js'

export const MAX_BRACE_WORDS = 1024
const MAX_BRACE_DEPTH = 16
const MAX_BRACE_TEXT = 64 * 1024
const MAX_TOTAL_BRACE_WORDS = 4096
const MAX_TOTAL_BRACE_TEXT = 256 * 1024

/** Simple commands one analysis may find, over the command line and every one inside it. */
export const MAX_COMMANDS = 128
/** Words (after brace expansion) one simple command may have. */
export const MAX_WORDS_PER_COMMAND = 512

/**
 * What one analysis may still do, over every word of the command line and of every command
 * line inside it (`bash -c`, `eval`), so that no line within the length limit holds the event
 * loop long: brace expansion (the cap per word alone lets a 16 KiB command make hundreds of
 * thousands of words), and simple commands (a line of two thousand took 17–29 ms to analyse,
 * where an agent's longest take well under one). Past it the line is unparseable: DENY.
 */
export class ShellBudget {
  private words = MAX_TOTAL_BRACE_WORDS
  private chars = MAX_TOTAL_BRACE_TEXT
  private commands = MAX_COMMANDS

  spend (words: readonly string[], chars: number): void {
    this.words -= words.length
    this.chars -= chars
    if (this.words < 0 || this.chars < 0) throw new ShellSyntaxError('brace expansion too large')
  }

  /** Counts one more simple command. */
  command (): void {
    if (--this.commands < 0) throw new ShellSyntaxError(`more than ${MAX_COMMANDS} commands in one command line`)
  }
}

/** A word as literal text and groups of alternatives, each alternative a word again. */
type Part = string | Part[][]
interface Frame { alternatives: Part[][], parts: Part[] }

const NUMBERS = /^(-?\d{1,6})\.\.(-?\d{1,6})(?:\.\.(-?\d{1,6}))?$/
const LETTERS = /^([A-Za-z])\.\.([A-Za-z])(?:\.\.(-?\d{1,6}))?$/
const tooMany = (): never => { throw new ShellSyntaxError(`brace expansion makes more than ${MAX_BRACE_WORDS} words`) }

/**
 * The words `value` expands to. `marks` are the indices of the `{`, `,` and `}` that were
 * unquoted; any other brace is a plain character.
 */
export function expandBraces (value: string, marks: readonly number[], budget?: ShellBudget): string[] {
  if (marks.length === 0) return [value]
  const words = expand(group(value, new Set(marks)), [''])
  // A thousand copies of a long word is a lot of text to judge: the words are bounded too.
  const chars = words.reduce((n, w) => n + w.length, 0)
  if (chars > MAX_BRACE_TEXT) throw new ShellSyntaxError(`brace expansion makes more than ${MAX_BRACE_TEXT} characters`)
  if (words.length > 1) budget?.spend(words, chars)
  return words
}

/** One pass, a stack of open braces; a brace that forms no group stays text. */
function group (value: string, marks: ReadonlySet<number>): Part[] {
  const stack: Frame[] = [{ alternatives: [], parts: [] }]
  for (let i = 0; i < value.length; i++) {
    const c = value[i]
    const top = stack[stack.length - 1]
    if (!marks.has(i) || (c !== '{' && stack.length === 1)) top.parts.push(c)
    else if (c === '{') {
      if (stack.length > MAX_BRACE_DEPTH) throw new ShellSyntaxError(`braces nested deeper than ${MAX_BRACE_DEPTH} levels`)
      stack.push({ alternatives: [], parts: [] })
    } else if (c === ',') {
      top.alternatives.push(top.parts)
      top.parts = []
    } else {
      stack.pop()
      const parent = stack[stack.length - 1].parts
      const alternatives = top.alternatives.length > 0 ? [...top.alternatives, top.parts] : sequence(top.parts)
      if (alternatives !== undefined) parent.push(alternatives)
      else parent.push('{', ...top.parts, '}')
    }
  }
  // Braces never closed are text, commas and all.
  while (stack.length > 1) {
    const frame = stack.pop() as Frame
    stack[stack.length - 1].parts.push('{', ...[...frame.alternatives, frame.parts].flatMap((a, k) => k === 0 ? a : [',', ...a]))
  }
  return stack[0].parts
}

/** Every word `parts` makes, each prefixed by each of `prefixes`. */
function expand (parts: Part[], prefixes: string[]): string[] {
  let words = prefixes
  let text = ''
  for (const part of parts) {
    if (typeof part === 'string') {
      text += part
      continue
    }
    const next: string[] = []
    for (const alternative of part) {
      for (const word of expand(alternative, words.map((w) => w + text))) next.push(word)
      if (next.length > MAX_BRACE_WORDS) tooMany()
    }
    words = next
    text = ''
  }
  return text === '' ? words : words.map((w) => w + text)
}

/** `{1..5}`, `{05..1..2}`, `{a..e}`; anything else is not a sequence. */
function sequence (parts: Part[]): Part[][] | undefined {
  if (!parts.every((p) => typeof p === 'string')) return undefined
  const text = parts.join('')
  const numbers = NUMBERS.exec(text)
  const match = numbers ?? LETTERS.exec(text)
  if (match === null) return undefined
  const [from, to] = numbers !== null ? [Number(match[1]), Number(match[2])] : [match[1].charCodeAt(0), match[2].charCodeAt(0)]
  const step = Math.max(1, Math.abs(Number(match[3] ?? 1)))
  if (Math.abs(to - from) / step >= MAX_BRACE_WORDS) tooMany()
  const width = numbers !== null && [match[1], match[2]].some((n) => /^-?0\d/.test(n)) ? Math.max(match[1].length, match[2].length) : 0
  const out: Part[][] = []
  for (let v = from; from <= to ? v <= to : v >= to; v += from <= to ? step : -step) {
    out.push([numbers !== null ? String(v).padStart(width, '0') : String.fromCharCode(v)])
  }
  return out
}
