/**
 * Globs over dot-separated names: `*` matches any characters except `.`, `**` matches
 * across segments. Everything else is literal.
 */

export interface Glob {
  readonly source: string
  readonly regex: RegExp
  /**
   * With more than two wildcards a backtracking regex can take time polynomial in the value
   * to high degree: such globs are matched by `matchesLinear` instead.
   */
  readonly linear: boolean
  /** The leading segments that hold no wildcard: the key the topic index files the glob under. */
  readonly literalPrefix: readonly string[]
}

const SPECIAL = /[\\^$.|?+()[\]{}]/g

/** Compiles a glob into an anchored regular expression. */
export function compileGlob (source: string): Glob {
  let body = ''
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]
    if (ch === '*') {
      if (source[i + 1] === '*') {
        body += '.*'
        i++
      } else {
        body += '[^.]*'
      }
    } else {
      body += ch.replace(SPECIAL, '\\$&')
    }
  }
  const segments = source.split('.')
  const firstWild = segments.findIndex((s) => s.includes('*'))
  const literalPrefix = firstWild === -1 ? segments : segments.slice(0, firstWild)
  const wildcards = source.replace(/\*\*/g, '*').split('*').length - 1
  return Object.freeze({ source, regex: new RegExp(`^${body}$`), linear: wildcards > 2, literalPrefix: Object.freeze(literalPrefix) })
}

export function globMatches (glob: Glob, value: string): boolean {
  return glob.linear ? matchesLinear(glob.source, value) : glob.regex.test(value)
}

const IN_SEGMENT = Symbol('*')
const ACROSS = Symbol('**')

/**
 * Matching in time linear in the glob times the value (an NFA walked in step). The value is
 * the caller's (a topic, a principal id): a backtracking regex for `job.*-*-*-*` and a topic
 * of 250 dashes holds the event loop for seconds.
 */
export function matchesLinear (glob: string, value: string): boolean {
  // A token is one literal character, or a wildcard.
  const tokens: Array<string | typeof IN_SEGMENT | typeof ACROSS> = []
  for (let i = 0; i < glob.length; i++) {
    if (glob[i] !== '*') tokens.push(glob[i])
    else if (glob[i + 1] === '*') { tokens.push(ACROSS); i++ } else tokens.push(IN_SEGMENT)
  }
  // A wildcard may match nothing: a state at one also stands at the token after it.
  const close = (states: Uint8Array): void => {
    for (let s = 0; s < tokens.length; s++) if (states[s] === 1 && typeof tokens[s] !== 'string') states[s + 1] = 1
  }
  let states = new Uint8Array(tokens.length + 1)
  states[0] = 1
  close(states)
  for (const ch of value) {
    const next = new Uint8Array(tokens.length + 1)
    for (let s = 0; s < tokens.length; s++) {
      if (states[s] === 0) continue
      const tok = tokens[s]
      if (tok === ACROSS || (tok === IN_SEGMENT && ch !== '.')) next[s] = 1
      else if (tok === ch) next[s + 1] = 1
    }
    close(next)
    states = next
  }
  return states[tokens.length] === 1
}

/**
 * A command pattern: `*` matches any characters, spaces included; everything else is literal.
 * Star-only patterns match greedily left to right without backtracking, in linear time.
 */
export function wildcardMatches (pattern: string, value: string): boolean {
  const parts = pattern.split('*')
  if (parts.length === 1) return pattern === value
  const first = parts[0]
  const last = parts[parts.length - 1]
  if (!value.startsWith(first) || value.length < first.length + last.length || !value.endsWith(last)) return false
  let at = first.length
  const end = value.length - last.length
  for (let i = 1; i < parts.length - 1; i++) {
    const found = value.indexOf(parts[i], at)
    if (found === -1 || found + parts[i].length > end) return false
    at = found + parts[i].length
  }
  return true
}
