/**
 * The one command the guard exists for: `rm` recursive and forced, aimed at a protected path.
 * rm's options are read the way GNU rm reads them: in any cluster or order, long names
 * abbreviated, options after operands too, and none after `--`.
 */
import type { Protection } from './protect.js'
import { commandName, type EffectiveCommand } from './unwrap.js'

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

/** Every protected target of a recursive forced `rm`; none for any other command. */
export function forcedDeletes (command: EffectiveCommand, protection: () => Protection): ForcedDelete[] {
  if (command.argv.length === 0 || commandName(command.argv[0]) !== 'rm') return []
  const rm = readRm(command)
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

function readRm (command: EffectiveCommand): RmCall {
  const call: RmCall = { recursive: false, force: false, noPreserveRoot: false, targets: [] }
  const { argv, raw } = command
  let options = true
  for (let i = 1; i < argv.length; i++) {
    const word = argv[i]
    if (options && word === '--') options = false
    else if (options && word.startsWith('--')) setLong(call, word.slice(2).split('=')[0])
    else if (options && word.startsWith('-') && word !== '-') {
      if (/[rR]/.test(word)) call.recursive = true
      if (word.includes('f')) call.force = true
    } else call.targets.push([word, raw[i]])
  }
  return call
}

function setLong (call: RmCall, name: string): void {
  // GNU getopt takes any unambiguous abbreviation: `--rec`, `--no-p`.
  const candidates = LONG.filter((n) => n.startsWith(name))
  const option = LONG.includes(name) ? name : candidates.length === 1 ? candidates[0] : undefined
  if (option === 'recursive') call.recursive = true
  if (option === 'force') call.force = true
  if (option === 'no-preserve-root') call.noPreserveRoot = true
}
