/**
 * What a delete target could be once the shell expands it. Nothing is known of a variable's
 * value, so each expansion is read every way that matters: as a plain name (written `$NAME`),
 * as empty, and as the word a default gives it (`${X:-/}` may well be `/`). `$HOME` is `~` and
 * `$PWD` (or `$(pwd)`, `~+`) the working directory, where they start the target. A target
 * reaches a protected path when any of its readings does.
 */

/** More readings than this (a word of many expansions) are not checked one by one. */
export const MAX_READINGS = 256
/** `${…}` inside the word of a `${…}`, this deep at most. */
const MAX_DEPTH = 8

const KNOWN: Record<string, string> = { HOME: '~', PWD: '.' }
const NAME = /[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-]/y
// Inside `${…}`: an optional length (#) or indirection (!), the name, a subscript, the rest.
const PARAMETER = /^([#!]?)([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-])(\[[^\]]*\])?([\s\S]*)$/
const DEFAULT = /^(:?)([-=+?])([\s\S]*)$/
const PWD_COMMAND = /^(?:\$\(\s*pwd(?:\s+-[LP])?\s*\)|`\s*pwd(?:\s+-[LP])?\s*`)$/

/** Too many readings, too deep or too much scanning to read the target with confidence. */
class Unreadable extends Error {}

/**
 * Every reading of `target` (an argv word, expansions as written); undefined when it cannot be
 * read with confidence (too many readings, `${…}` nested too deep, too much text to rescan).
 */
export function targetReadings (target: string): string[] | undefined {
  if (!/[$`~]/.test(target)) return [target]
  try {
    return [...new Reader(target.length).read(target, false, true, 0)]
  } catch (err) {
    if (err instanceof Unreadable) return undefined
    /* c8 ignore start: nothing else is thrown */
    throw err
  }
  /* c8 ignore stop */
}

class Reader {
  /** Characters left to scan for closing brackets: a nested word is rescanned once per level. */
  private work: number

  constructor (length: number) {
    this.work = (MAX_DEPTH + 2) * length
  }

  /**
   * The readings of `text`; `raw` when its quotes are still in it (a word inside `${…}`),
   * `atStart` when it begins the target.
   */
  read (text: string, raw: boolean, atStart: boolean, depth: number): Set<string> {
    if (depth > MAX_DEPTH) throw new Unreadable()
    let readings = new Set([''])
    let literal = ''
    let inDouble = false
    const append = (options: Iterable<string>): void => {
      const next = new Set<string>()
      for (const reading of readings) {
        for (const option of options) next.add(reading + literal + option)
        if (next.size > MAX_READINGS) throw new Unreadable()
      }
      readings = next
      literal = ''
    }
    for (let i = 0; i < text.length;) {
      const c = text[i]
      const start = atStart && literal === '' && readings.size === 1 && readings.has('')
      if (raw && c === "'" && !inDouble && text.includes("'", i + 1)) {
        const end = text.indexOf("'", i + 1)
        literal += text.slice(i + 1, end)
        i = end + 1
      } else if (raw && c === '"') {
        inDouble = !inDouble
        i++
      } else if (raw && c === '\\') {
        literal += text.slice(i + 1, i + 2)
        i += 2
      } else if (start && text.startsWith('~+', i) && boundary(text, i + 2, raw)) {
        literal += '.'
        i += 2
      } else {
        const end = c === '$' || c === '`' ? this.expansionEnd(text, i) : -1
        if (end === -1) {
          literal += c
          i++
          continue
        }
        append(this.expansion(text.slice(i, end), start && boundary(text, end, raw), depth))
        i = end
      }
    }
    append([''])
    return readings
  }

  /** Index just past the expansion starting at `at` (a `$` or a backtick), or -1 when there is none. */
  private expansionEnd (text: string, at: number): number {
    if (text[at] === '`') {
      const end = text.indexOf('`', at + 1)
      return end === -1 ? -1 : end + 1
    }
    const next = text[at + 1]
    if (next === '(' || next === '{') return this.closing(text, at + 1)
    NAME.lastIndex = at + 1
    const name = NAME.exec(text)?.[0]
    return name === undefined ? -1 : at + 1 + name.length
  }

  /** Index just past the bracket matching the one at `open`, skipping quoted text; -1 when unbalanced. */
  private closing (text: string, open: number): number {
    const [o, c] = text[open] === '(' ? ['(', ')'] : ['{', '}']
    let depth = 0
    for (let i = open; i < text.length; i++) {
      // `${${${…` never closed would scan to the end from every `$`: the scanning is bounded.
      if (--this.work < 0) throw new Unreadable()
      const ch = text[i]
      if (ch === '\\') i++
      else if ((ch === "'" || ch === '"') && text.includes(ch, i + 1)) i = text.indexOf(ch, i + 1)
      else if (ch === o) depth++
      else if (ch === c && --depth === 0) return i + 1
    }
    return -1
  }

  /** The readings of one expansion, as written; `known` when a known value may stand for it here. */
  private expansion (written: string, known: boolean, depth: number): Iterable<string> {
    if (written.startsWith('${')) return this.parameter(written, known, depth)
    if (written.startsWith('$(') || written.startsWith('`')) return known && PWD_COMMAND.test(written) ? ['.'] : [written, '']
    const name = written.slice(1)
    return known && Object.hasOwn(KNOWN, name) ? [KNOWN[name]] : [written, '']
  }

  /** `${NAME}`, `${NAME:-word}`, `${NAME:+word}`, `${NAME:?}`, `${NAME%pattern}`… */
  private parameter (written: string, known: boolean, depth: number): Iterable<string> {
    const match = PARAMETER.exec(written.slice(2, -1))
    if (match === null) return [written, '']
    const [, prefix, name, subscript, rest] = match
    // `${#X}` is a length: a number, never empty.
    if (prefix === '#') return [written]
    const plain = prefix === '' && subscript === undefined
    const value = plain && known && Object.hasOwn(KNOWN, name) ? KNOWN[name] : undefined
    const values = value === undefined ? [plain ? `$${name}` : written, ''] : [value]
    if (rest === '') return values
    const op = DEFAULT.exec(rest)
    // Any other operator (`%`, `#`, `/`, `:offset`…) makes a string of the value: a part of it,
    // which for a known path may be its parent, or nothing.
    if (op === null) return value === undefined ? [written, ''] : [value, `${value}/..`, '', written]
    const [, colon, kind, word] = op
    // The word is expanded only when used, the same way: `${X:-$HOME}` may be `~`.
    const words = (): Set<string> => this.read(word, true, known, depth + 1)
    if (kind === '-' || kind === '=') return new Set([...values, ...words()])
    if (kind === '+') return new Set([...words(), ''])
    // `${X:?}` stops the shell when X is empty or unset, so it is never empty; `${X?}` may be.
    return colon === ':' && value === undefined ? [values[0]] : values
  }
}

/** Whether a known value ends here: at a `/`, the end, or a closing quote. */
const boundary = (text: string, at: number, raw: boolean): boolean =>
  at >= text.length || text[at] === '/' || (raw && text[at] === '"')
