/**
 * The one command the guard exists for: `rm` recursive and forced, aimed at a protected path.
 * rm's options are read the way GNU rm reads them: in any cluster or order, long names
 * abbreviated, options after operands too, and none after `--`.
 */
import { isKnownCommand } from './classify.js'
import type { Protection } from './protect.js'
import { commandName, tailOf, type EffectiveCommand } from './unwrap.js'

export interface ForcedDelete {
  /** The effective command as written, e.g. `rm -rf /` for `sudo rm -rf /`. */
  segment: string
  /** The target word as written, or `(xargs input)`, or `--no-preserve-root`. */
  target: string
}

export const XARGS_INPUT = '(xargs input)'

const LONG = ['recursive', 'force', 'no-preserve-root', 'preserve-root', 'interactive', 'one-file-system', 'dir', 'verbose', 'help', 'version']

interface RmCall {
  recursive: boolean
  force: boolean
  noPreserveRoot: boolean
  /** Operands, each as [value, as written]. */
  targets: Array<[string, string]>
}

/**
 * Every protected target of a recursive forced `rm`. A command missing from the classification
 * table may be a wrapper nobody told us of (`my-wrapper --x rm -rf /`): from a later word that
 * names rm, given recursive and forced, the rest is checked as that rm.
 */
export function forcedDeletes (command: EffectiveCommand, protection: () => Protection): ForcedDelete[] {
  if (command.argv.length === 0) return []
  const name = commandName(command.argv[0])
  if (name === 'rm') return rmDeletes(command, readRm(command), protection)
  if (isKnownCommand(name)) return []
  const k = embeddedRm(command.argv)
  if (k === -1) return []
  const tail = tailOf(command, k)
  return rmDeletes(tail, readRm(tail), protection)
}

/**
 * The first word past the name that names rm with recursive and forced among its options, or -1.
 * One pass from the end: an rm's options run up to the next `--`, later rm words and all.
 */
function embeddedRm (argv: readonly string[]): number {
  let found = -1
  let flags = newCall()
  for (let j = argv.length - 1; j >= 1; j--) {
    const word = argv[j]
    if (word === '--') flags = newCall()
    else if (!readOption(flags, word) && flags.recursive && flags.force && commandName(word) === 'rm') found = j
  }
  return found
}

function rmDeletes (command: EffectiveCommand, rm: RmCall, protection: () => Protection): ForcedDelete[] {
  if (!rm.recursive || !rm.force) return []
  const segment = command.text
  const replace = command.xargs?.replace
  const hits: ForcedDelete[] = []
  for (const [value, raw] of rm.targets) {
    if (replace !== undefined && value.includes(replace)) hits.push({ segment, target: XARGS_INPUT })
    else if (rm.noPreserveRoot || protection().protects(value)) hits.push({ segment, target: raw })
  }
  // Without -I, xargs appends whatever its input holds: any path at all.
  if (command.xargs !== undefined && replace === undefined) hits.push({ segment, target: XARGS_INPUT })
  if (hits.length === 0 && rm.noPreserveRoot) hits.push({ segment, target: '--no-preserve-root' })
  return hits
}

const newCall = (): RmCall => ({ recursive: false, force: false, noPreserveRoot: false, targets: [] })

function readRm (command: EffectiveCommand): RmCall {
  const call = newCall()
  const { argv, raw } = command
  let options = true
  for (let i = 1; i < argv.length; i++) {
    const word = argv[i]
    if (options && word === '--') options = false
    else if (!options || !readOption(call, word)) call.targets.push([word, raw[i]])
  }
  return call
}

/** Reads `word` into `call` when it is an option; false for an operand. */
function readOption (call: RmCall, word: string): boolean {
  if (!word.startsWith('-') || word === '-') return false
  if (word.startsWith('--')) return setLong(call, word.slice(2).split('=')[0])
  if (/[rR]/.test(word)) call.recursive = true
  if (word.includes('f')) call.force = true
  return true
}

function setLong (call: RmCall, name: string): true {
  // GNU getopt takes any unambiguous abbreviation: `--rec`, `--no-p`.
  const candidates = LONG.filter((n) => n.startsWith(name))
  const option = LONG.includes(name) ? name : candidates.length === 1 ? candidates[0] : undefined
  if (option === 'recursive') call.recursive = true
  if (option === 'force') call.force = true
  if (option === 'no-preserve-root') call.noPreserveRoot = true
  return true
}
