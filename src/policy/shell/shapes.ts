/**
 * Argument shapes: which options a program takes that are known only to read. A command is
 * `read_only` when its arguments have such a shape; an option outside it, or one known to run a
 * program or write a file, says otherwise.
 */
import { R, U, verdict, type Outcome, type Verdict } from './classes.js'

export interface ShapeSpec {
  /** getopt-style: a letter alone, `x:` takes an argument (attached or next), `x?` only attached. */
  short?: string
  /** `name` alone, `name=` takes an argument (`=value` or next), `name?` optionally `=value`. */
  long?: string
  /** Every option the program has only reads: any option is fine unless `bad` names it. */
  any?: boolean
  /** `-5` is a count (head, tail, git log). */
  numeric?: boolean
  /** Options that run or write, in any spelling (`-o`, `--output`; an abbreviation counts). */
  bad?: Record<string, Verdict>
  /** Options end at the first operand (echo, printf, find): the rest is data. */
  posix?: boolean
  /** A verdict on the operands, when they can make a reader do more. */
  operands?: (operands: string[]) => Verdict | undefined
}

export interface Shape {
  readonly name: string
  readonly shortFlags: ReadonlySet<string>
  readonly shortArgs: ReadonlySet<string>
  readonly shortOptional: ReadonlySet<string>
  readonly longFlags: ReadonlySet<string>
  readonly longArgs: ReadonlySet<string>
  readonly longOptional: ReadonlySet<string>
  readonly spec: ShapeSpec
}

/** Compiles a shape once, at load. */
export function shape (name: string, spec: ShapeSpec): Shape {
  const shortFlags = new Set<string>()
  const shortArgs = new Set<string>()
  const shortOptional = new Set<string>()
  const short = spec.short ?? ''
  for (let i = 0; i < short.length; i++) {
    const next = short[i + 1]
    if (next === ':') shortArgs.add(short[i++])
    else if (next === '?') shortOptional.add(short[i++])
    else shortFlags.add(short[i])
  }
  const longFlags = new Set<string>()
  const longArgs = new Set<string>()
  const longOptional = new Set<string>()
  for (const word of (spec.long ?? '').split(/\s+/).filter((w) => w !== '')) {
    if (word.endsWith('=')) longArgs.add(word.slice(0, -1))
    else if (word.endsWith('?')) longOptional.add(word.slice(0, -1))
    else longFlags.add(word)
  }
  return { name, shortFlags, shortArgs, shortOptional, longFlags, longArgs, longOptional, spec }
}

const unknownOption = (s: Shape, option: string): Verdict =>
  verdict(U, `${s.name}: '${option}' is not an option Arbiter knows to only read`)

/** A long option `bad` names, written in full or abbreviated (getopt takes `--out` for `--output`). */
function badLong (s: Shape, name: string): Verdict | undefined {
  const bad = s.spec.bad
  if (bad === undefined || name === '') return undefined
  for (const key of Object.keys(bad)) if (key.startsWith('--') && key.slice(2).startsWith(name)) return bad[key]
  return undefined
}

/** R when every argument has the shape, else the verdict of the first that does not. */
export function checkShape (s: Shape, args: readonly string[]): Outcome {
  const operands: string[] = []
  for (let i = 0; i < args.length; i++) {
    const word = args[i]
    if (word === '--') {
      operands.push(...args.slice(i + 1))
      break
    }
    if (!word.startsWith('-') || word === '-') {
      operands.push(word)
      if (s.spec.posix === true) {
        operands.push(...args.slice(i + 1))
        break
      }
      continue
    }
    const problem = word.startsWith('--') ? readLong(s, word, () => i++) : readShort(s, word, () => i++)
    if (problem !== undefined) return problem
  }
  return s.spec.operands?.(operands) ?? R
}

function readLong (s: Shape, word: string, skipNext: () => void): Verdict | undefined {
  const eq = word.indexOf('=')
  const name = word.slice(2, eq === -1 ? undefined : eq)
  const bad = badLong(s, name)
  if (bad !== undefined) return bad
  if (s.longArgs.has(name)) {
    if (eq === -1) skipNext()
    return undefined
  }
  if (s.longOptional.has(name) || (s.longFlags.has(name) && eq === -1) || s.spec.any === true) return undefined
  return unknownOption(s, word)
}

function readShort (s: Shape, word: string, skipNext: () => void): Verdict | undefined {
  if (s.spec.numeric === true && /^-\d+$/.test(word)) return undefined
  for (let k = 1; k < word.length; k++) {
    const letter = word[k]
    const bad = s.spec.bad?.[`-${letter}`]
    if (bad !== undefined) return bad
    if (s.shortArgs.has(letter)) {
      if (k === word.length - 1) skipNext()
      return undefined
    }
    if (s.shortOptional.has(letter)) return undefined
    if (!s.shortFlags.has(letter) && s.spec.any !== true) return unknownOption(s, `-${letter}`)
  }
  return undefined
}
