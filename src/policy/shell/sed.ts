/**
 * sed reads unless told to write in place (`-i`) or its script runs or writes: the `e` command
 * and the `e` flag of `s` run a shell command, `w`, `W` and the `w` flag of `s` write a file.
 * A script this reader cannot follow is `unknown`, never guessed to be harmless.
 */
import { R, U, W, verdict, type Outcome } from './classes.js'
import { checkShape } from './shapes.js'
import { SED_SHAPE } from './read-shapes.js'

const HARMLESS_FILES = new Set(['/dev/stdout', '/dev/stderr', '/dev/null'])
const SIMPLE = new Set('=dDgGhHnNpPxzF')

/** The classes of a sed that does not edit in place. */
export function sedOutcome (args: string[]): Outcome {
  const shapeOutcome = checkShape(SED_SHAPE, args)
  if ('reason' in shapeOutcome) return shapeOutcome
  const scripts: string[] = []
  let fromFile = false
  let firstOperand: string | undefined
  for (let i = 0; i < args.length; i++) {
    const word = args[i]
    if (word === '--') { firstOperand ??= args[i + 1]; break }
    const e = /^-[A-Za-z]*e(.*)$/.exec(word) ?? /^--expression(?:=(.*))?$/.exec(word)
    const f = /^-[A-Za-z]*f(.*)$/.exec(word) ?? /^--file(?:=(.*))?$/.exec(word)
    if (e !== null) scripts.push(e[1] === '' || e[1] === undefined ? args[++i] ?? '' : e[1])
    else if (f !== null) { fromFile = true; if (f[1] === '' || f[1] === undefined) i++ } else if (/^-l$/.test(word)) i++
    else if (!word.startsWith('-') || word === '-') firstOperand ??= word
  }
  if (fromFile) return verdict(U, 'sed -f runs a script Arbiter cannot see')
  if (scripts.length === 0 && firstOperand !== undefined) scripts.push(firstOperand)
  if (args.includes('--sandbox')) return R
  for (const script of scripts) {
    const found = sedScript(script)
    if (found !== undefined) return found
  }
  return R
}

/** What a sed script does beyond reading, or undefined when nothing. */
function sedScript (script: string): Outcome | undefined {
  const unreadable = verdict(U, 'a sed script Arbiter cannot follow')
  let i = 0
  const lineEnd = (): string => {
    const end = script.indexOf('\n', i)
    const text = script.slice(i, end === -1 ? undefined : end)
    i = end === -1 ? script.length : end
    return text.trim()
  }
  /** Past a delimited part (`/re/`), from just after its opening delimiter. */
  const part = (delim: string): boolean => {
    for (; i < script.length; i++) {
      if (script[i] === '\\') i++
      else if (script[i] === delim) { i++; return true }
    }
    return false
  }
  while (i < script.length) {
    while (i < script.length && /[\s;}{!]/.test(script[i])) i++
    // Addresses: numbers, $, /re/, \%re%, first~step, and a second after a comma.
    for (;;) {
      if (/[0-9$~+]/.test(script[i] ?? '')) i++
      else if (script[i] === '/') { i++; if (!part('/')) return unreadable; while (/[IM]/.test(script[i] ?? '')) i++ } else if (script[i] === '\\') { const d = script[i + 1]; i += 2; if (d === undefined || !part(d)) return unreadable } else if (script[i] === ',') i++
      else break
    }
    while (i < script.length && /[\s!]/.test(script[i])) i++
    const c = script[i++]
    if (c === undefined) return undefined
    if (c === '{' || c === '}' || c === ';' || c === '\n' || SIMPLE.has(c)) continue
    if (c === 's' || c === 'y') {
      const d = script[i++]
      if (d === undefined || d === '\\' || d === '\n' || !part(d) || !part(d)) return unreadable
      if (c === 'y') continue
      const flags = /^[0-9gpiImMew]*/.exec(script.slice(i))?.[0] ?? ''
      i += flags.length
      if (flags.includes('e')) return verdict(U, 'sed s///e runs the pattern space as a command')
      if (flags.includes('w')) {
        const file = lineEnd()
        if (!HARMLESS_FILES.has(file)) return verdict(W, `sed s///w writes ${file}`)
      }
    } else if (c === 'e') return verdict(U, 'sed e runs a command')
    else if (c === 'w' || c === 'W') {
      const file = lineEnd()
      if (!HARMLESS_FILES.has(file)) return verdict(W, `sed ${c} writes ${file}`)
    } else if ('aicrR#'.includes(c)) lineEnd()
    else if ('btTqQlLv:'.includes(c)) while (i < script.length && !/[;\n}]/.test(script[i])) i++
    else return unreadable
  }
  return undefined
}
