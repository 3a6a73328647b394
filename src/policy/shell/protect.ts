/**
 * Whether a delete target reaches a protected path. Paths are compared as text: nothing is
 * read from disk, so `/`, `~` and the working directory are three separate roots, joined only
 * when the caller says where the working directory is. A target reaches a protected path when
 * it is that path, an ancestor of it, or one of those followed by `/*`; a target inside a
 * path protected with `/**` reaches it too.
 */
import { targetReadings } from './readings.js'

type Root = '/' | '~' | '.'
interface Path { root: Root, segments: string[] }
interface Guard { path: Path, deep: boolean }

export interface Protection {
  /** Whether deleting `target` (an argv word, expansions as written) could reach a protected path. */
  protects: (target: string) => boolean
}

const HOME = /^(?:\$HOME|\$\{HOME\})(?=\/|$)/
const PWD = /^(?:\$PWD|\$\{PWD\}|~\+|\$\(\s*pwd(?:\s+-[LP])?\s*\)|`\s*pwd(?:\s+-[LP])?\s*`)(?=\/|$)/
// `${NAME}` and `$NAME` are one spelling, as the readings of a target spell it.
const BRACED_NAME = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g

/** Compiles protected paths (entries ending in `/**` protect everything under them). */
export function compileProtection (paths: readonly string[], workingDirectory?: string, guardWorkingDirectory = true): Protection {
  const cwd = workingDirectory?.startsWith('/') === true ? toPath(workingDirectory) : undefined
  // The working directory is protected from deletes, named or not.
  const guards: Guard[] = guardWorkingDirectory ? [{ path: cwd ?? { root: '.', segments: [] }, deep: false }] : []
  for (const entry of paths) {
    const deep = entry.endsWith('/**')
    const text = entry.replace(BRACED_NAME, (_all, name: string) => `$${name}`)
    const path = toPath(deep ? text.slice(0, -3) || '/' : text, cwd)
    if (path !== undefined) guards.push({ path, deep })
  }
  return {
    protects (target) {
      // `"$DIR/"` may well be `/`, `${X:-/}` too. A word of too many expansions to read
      // each way is taken to reach a protected path: better a false alarm than a miss.
      const readings = targetReadings(target)
      if (readings === undefined) return true
      for (const reading of readings) {
        const path = toPath(reading, cwd)
        if (path !== undefined && guards.some((g) => reaches(path, g))) return true
      }
      return false
    }
  }
}

/** `$HOME` is `~`; `$PWD`, `~+` and `$(pwd)` are the working directory. */
const knownPrefix = (text: string): string => text.replace(HOME, '~').replace(PWD, '.')

function toPath (text: string, cwd?: Path): Path | undefined {
  const mapped = knownPrefix(text)
  if (mapped === '') return undefined
  const root: Root = mapped.startsWith('/') ? '/' : mapped === '~' || mapped.startsWith('~/') ? '~' : '.'
  const base = root === '.' ? cwd ?? { root, segments: [] } : { root, segments: [] }
  const segments = [...base.segments]
  for (const part of (root === '.' ? mapped : mapped.slice(1)).split('/')) {
    if (part === '' || part === '.' || (part === '..' && base.root === '/' && segments.length === 0)) continue
    if (part === '..' && segments.length > 0 && segments[segments.length - 1] !== '..') segments.pop()
    else segments.push(part)
  }
  return { root: base.root, segments }
}

function reaches (target: Path, guard: Guard): boolean {
  if (target.root !== guard.path.root) return false
  const t = target.segments
  const g = guard.path.segments
  if (guard.deep && g.length <= t.length && g.every((s, i) => segmentMatches(t[i], s))) return true
  // Deleting P/* (or P/*/*) empties P as surely as deleting P.
  let end = t.length
  while (end > 0 && t[end - 1] === '*') end--
  const ancestor = t.slice(0, end)
  const ups = (s: string[]): number => { let n = 0; while (s[n] === '..') n++; return n }
  if (ancestor.length > 0 && ups(ancestor) === ancestor.length && ancestor.length > ups(g)) return true
  return ancestor.length <= g.length && ancestor.every((s, i) => segmentMatches(s, g[i]))
}

/** A target segment matches a protected one literally, or as a glob that would expand to it. */
function segmentMatches (pattern: string, name: string): boolean {
  return pattern === name || (/[*?[]/.test(pattern) && globMatches(pattern, name))
}

type GlobToken = { any: true } | { one: (c: string) => boolean }

/**
 * Glob matching in time linear in pattern times name (the usual backtrack-to-the-last-star
 * walk): the pattern is the caller's, and a backtracking regex for `*a*a*a…` takes forever.
 */
export function globMatches (pattern: string, name: string): boolean {
  const tokens: GlobToken[] = []
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    const close = c === '[' ? pattern.indexOf(']', i + 2) : -1
    if (c === '*') tokens.push({ any: true })
    else if (c === '?') tokens.push({ one: () => true })
    else if (close !== -1) {
      const negate = pattern[i + 1] === '!' || pattern[i + 1] === '^'
      const set = pattern.slice(negate ? i + 2 : i + 1, close)
      tokens.push({ one: (x) => classHas(set, x) !== negate })
      i = close
    } else tokens.push({ one: (x) => x === c })
  }
  let p = 0
  let n = 0
  let star = -1
  let resume = 0
  while (n < name.length) {
    const tok = tokens[p]
    if (tok !== undefined && 'one' in tok && tok.one(name[n])) { p++; n++ } else if (tok !== undefined && 'any' in tok) { star = p++; resume = n } else if (star !== -1) { p = star + 1; n = ++resume } else return false
  }
  while (p < tokens.length && 'any' in tokens[p]) p++
  return p === tokens.length
}

function classHas (set: string, c: string): boolean {
  for (let i = 0; i < set.length; i++) {
    if (set[i + 1] === '-' && i + 2 < set.length) {
      if (c >= set[i] && c <= set[i + 2]) return true
      i += 2
    } else if (set[i] === c) return true
  }
  return false
}
