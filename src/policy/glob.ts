/**
 * Globs over dot-separated names: `*` matches any characters except `.`, `**` matches
 * across segments. Everything else is literal.
 */

export interface Glob {
  readonly source: string
  readonly regex: RegExp
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
  return Object.freeze({ source, regex: new RegExp(`^${body}$`), literalPrefix: Object.freeze(literalPrefix) })
}

export function globMatches (glob: Glob, value: string): boolean {
  return glob.regex.test(value)
}
