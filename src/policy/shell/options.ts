/**
 * getopt-style option scanning over an argv, enough to find where a wrapper's own options end
 * (`sudo -u admin rm …`), which subcommand a tool runs (`git -C repo push …`), and which
 * flags were given, in any spelling (`-rf`, `-r -f`, `--force`).
 */

export interface OptionSpec {
  /** Short options that take an argument, attached (`-uadmin`) or as the next word. */
  short?: string
  /** Short options whose argument can only be attached (`xargs -i{}`), else empty. */
  shortOptional?: string
  /** Long options that take an argument as the next word when not given `=value`. */
  long?: readonly string[]
}

export interface ScannedOptions {
  /** Index of the first operand (past `--`, when one ends the options). */
  next: number
  /** Whether a `--` ended the options. */
  ended: boolean
  /** Every short letter and long name seen. */
  flags: Set<string>
  /** The argument of each option that took one (the last, when repeated). */
  values: Map<string, string>
  /** Every option that took an argument, with it, in order (long names in full). */
  given: Array<[name: string, value: string]>
}

/** Scans options from `argv[from]` up to the first operand, `-` or `--`. */
export function scanOptions (argv: readonly string[], from: number, spec: OptionSpec = {}): ScannedOptions {
  const found: ScannedOptions = { next: from, ended: false, flags: new Set(), values: new Map(), given: [] }
  let i = from
  while (i < argv.length) {
    const word = argv[i]
    if (word === '--') return { ...found, next: i + 1, ended: true }
    if (!word.startsWith('-') || word === '-') break
    i += word.startsWith('--') ? scanLong(argv, i, spec, found) : scanShort(argv, i, spec, found)
  }
  return { ...found, next: i }
}

function give (found: ScannedOptions, name: string, value: string): void {
  found.values.set(name, value)
  found.given.push([name, value])
}

/** A long option's full name: getopt_long takes any unambiguous abbreviation (`--us` for `--user`). */
function longName (name: string, names: readonly string[] = []): string {
  if (name === '' || names.includes(name)) return name
  const candidates = names.filter((n) => n.startsWith(name))
  return candidates.length === 1 ? candidates[0] : name
}

function scanLong (argv: readonly string[], i: number, spec: OptionSpec, found: ScannedOptions): number {
  const word = argv[i]
  const eq = word.indexOf('=')
  const written = word.slice(2, eq === -1 ? undefined : eq)
  const name = longName(written, spec.long)
  found.flags.add(written).add(name)
  if (eq !== -1) {
    give(found, name, word.slice(eq + 1))
    return 1
  }
  if (spec.long?.includes(name) === true && i + 1 < argv.length) {
    give(found, name, argv[i + 1])
    return 2
  }
  return 1
}

function scanShort (argv: readonly string[], i: number, spec: OptionSpec, found: ScannedOptions): number {
  const word = argv[i]
  for (let k = 1; k < word.length; k++) {
    const letter = word[k]
    found.flags.add(letter)
    const rest = word.slice(k + 1)
    if (spec.shortOptional?.includes(letter) === true) {
      give(found, letter, rest)
      return 1
    }
    if (spec.short?.includes(letter) === true) {
      if (rest !== '') {
        give(found, letter, rest)
        return 1
      }
      if (i + 1 < argv.length) give(found, letter, argv[i + 1])
      return 2
    }
  }
  return 1
}

/**
 * Every argument given to an option named in `names`, wherever it stands (GNU getopt permutes
 * options and operands); with `pastDashDash`, after a `--` too.
 */
export function optionValues (argv: readonly string[], from: number, names: readonly string[], spec: OptionSpec = {}, pastDashDash = false): string[] {
  const found: string[] = []
  for (let i = from; i < argv.length;) {
    const scanned = scanOptions(argv, i, spec)
    for (const [name, value] of scanned.given) if (names.includes(name)) found.push(value)
    if (scanned.ended && !pastDashDash) break
    i = Math.max(scanned.next, i + 1)
  }
  return found
}

/** The operands of `argv` from `from` on, skipping options anywhere before `--` (GNU order). */
export function operands (argv: readonly string[], from: number, spec: OptionSpec = {}): string[] {
  const found: string[] = []
  for (let i = from; i < argv.length;) {
    const scanned = scanOptions(argv, i, spec)
    if (scanned.next > i) {
      i = scanned.next
      if (scanned.ended) return found.concat(argv.slice(i))
      continue
    }
    found.push(argv[i++])
  }
  return found
}

/** Whether any option, in any cluster or long spelling, is one of `names`. */
export function hasOption (argv: readonly string[], from: number, names: readonly string[], spec: OptionSpec = {}): boolean {
  const seen = new Set<string>()
  for (let i = from; i < argv.length;) {
    const scanned = scanOptions(argv, i, spec)
    for (const f of scanned.flags) seen.add(f)
    if (scanned.ended) break
    i = Math.max(scanned.next, i + 1)
  }
  return names.some((n) => seen.has(n))
}
