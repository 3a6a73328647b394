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
  /** Every short letter and long name seen. */
  flags: Set<string>
  /** The argument of each option that took one (the last, when repeated). */
  values: Map<string, string>
}

/** Scans options from `argv[from]` up to the first operand, `-` or `--`. */
export function scanOptions (argv: readonly string[], from: number, spec: OptionSpec = {}): ScannedOptions {
  const flags = new Set<string>()
  const values = new Map<string, string>()
  let i = from
  while (i < argv.length) {
    const word = argv[i]
    if (word === '--') return { next: i + 1, flags, values }
    if (!word.startsWith('-') || word === '-') break
    i += word.startsWith('--') ? scanLong(argv, i, spec, flags, values) : scanShort(argv, i, spec, flags, values)
  }
  return { next: i, flags, values }
}

function scanLong (argv: readonly string[], i: number, spec: OptionSpec, flags: Set<string>, values: Map<string, string>): number {
  const word = argv[i]
  const eq = word.indexOf('=')
  const name = word.slice(2, eq === -1 ? undefined : eq)
  flags.add(name)
  if (eq !== -1) {
    values.set(name, word.slice(eq + 1))
    return 1
  }
  if (spec.long?.includes(name) === true && i + 1 < argv.length) {
    values.set(name, argv[i + 1])
    return 2
  }
  return 1
}

function scanShort (argv: readonly string[], i: number, spec: OptionSpec, flags: Set<string>, values: Map<string, string>): number {
  const word = argv[i]
  for (let k = 1; k < word.length; k++) {
    const letter = word[k]
    flags.add(letter)
    const rest = word.slice(k + 1)
    if (spec.shortOptional?.includes(letter) === true) {
      values.set(letter, rest)
      return 1
    }
    if (spec.short?.includes(letter) === true) {
      if (rest !== '') {
        values.set(letter, rest)
        return 1
      }
      if (i + 1 < argv.length) values.set(letter, argv[i + 1])
      return 2
    }
  }
  return 1
}

/** The operands of `argv` from `from` on, skipping options anywhere before `--` (GNU order). */
export function operands (argv: readonly string[], from: number, spec: OptionSpec = {}): string[] {
  const found: string[] = []
  for (let i = from; i < argv.length;) {
    if (argv[i] === '--') return found.concat(argv.slice(i + 1))
    const scanned = scanOptions(argv, i, spec)
    if (scanned.next > i) {
      i = scanned.next
      if (argv[i - 1] === '--') return found.concat(argv.slice(i))
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
    if (argv[i] === '--') break
    const scanned = scanOptions(argv, i, spec)
    for (const f of scanned.flags) seen.add(f)
    if (argv[scanned.next - 1] === '--') break
    i = Math.max(scanned.next, i + 1)
  }
  return names.some((n) => seen.has(n))
}
