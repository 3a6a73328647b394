/**
 * Wrappers run another command: `sudo rm -rf /` deletes as surely as `rm -rf /`. Unwrapping
 * finds the effective command behind any chain of them, and parses the command lines that
 * shells and `eval` take as a string, so a policy judges what would actually run.
 */
import type { ShellBudget } from './braces.js'
import { parseShell, type Definitions, type SimpleCommand } from './parse.js'
import { RUN_AS } from './run-as.js'
import { WRAPPERS as RUN, type Step, type Wrapper, type XargsInput } from './wrappers.js'

export type { XargsInput } from './wrappers.js'

export interface EffectiveCommand {
  argv: string[]
  /** `argv`'s words as written. */
  raw: string[]
  /** Where each of `argv`'s words starts within `text`. */
  offsets: number[]
  /** The effective command as written, from its name on. */
  text: string
  redirects: string[]
  /** Run through sudo, doas, su, runuser, pkexec, chroot, setpriv, unshare, nsenter or systemd-run. */
  privileged: boolean
  /** Run by xargs or parallel, which add operands read from their input. */
  xargs?: XargsInput
  /** `NAME=value` words it runs with: before it, before its wrappers, or given to env, sudo… */
  assignments: string[]
}

export type UnwrapResult = { ok: true, commands: EffectiveCommand[] } | { ok: false, error: string }

export interface UnwrapContext {
  privileged: boolean
  xargs?: XargsInput
  redirects: string[]
  /** Shared with the command line the strings came from, so brace expansion is bounded in all. */
  budget?: ShellBudget
  /** Assignments the wrappers around it were given. */
  assignments?: string[]
  /** Where functions and aliases defined in `sh -c` strings are recorded. */
  definitions?: Definitions
}

const WRAPPERS: Record<string, Wrapper> = { ...RUN, ...RUN_AS }
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/
const LOCATED = /^(?:\$\(|`)\s*(?:which|command\s+-v|type\s+-P)\s+([^\s`)]+)\s*(?:\)|`)$/

/** The name a command word runs: `/usr/bin/sudo` → `sudo`, `$(which rm)` → `rm`. */
export function commandName (word: string): string {
  const located = LOCATED.exec(word)?.[1] ?? word
  return located.slice(located.lastIndexOf('/') + 1)
}

/** The commands a simple command really runs, behind any wrappers and `sh -c` strings. */
export function effectiveCommands (command: SimpleCommand, context: UnwrapContext = { privileged: false, redirects: [] }): UnwrapResult {
  const { argv } = command
  let privileged = context.privileged
  let xargs = context.xargs
  const assignments = [...context.assignments ?? [], ...command.assignments]
  let i = 0
  while (i < argv.length) {
    const name = commandName(argv[i])
    const step: Step = Object.hasOwn(WRAPPERS, name) ? WRAPPERS[name](argv, i) : { kind: 'self' }
    if (step.kind === 'self') break
    privileged ||= step.privileged === true
    xargs ??= step.xargs
    // `env A=1 cmd`, `sudo A=1 cmd`, `systemd-run -E A=1 cmd`: what the wrapper sets, cmd sees.
    const end = step.kind === 'script' ? argv.length : Math.min(step.at, argv.length)
    for (let j = i + 1; j < end; j++) if (ASSIGNMENT.test(argv[j])) assignments.push(argv[j])
    if (step.kind === 'script') return unwrapScripts(name, step.sources, command, { ...context, privileged, xargs, assignments })
    // A wrapper with nothing after it (`sudo`, `env A=1`) is itself the command.
    if (step.at >= argv.length) break
    i = step.at
  }
  return { ok: true, commands: [effective(command, i, { ...context, privileged, xargs, assignments })] }
}

function unwrapScripts (name: string, sources: string[], outer: SimpleCommand, context: UnwrapContext): UnwrapResult {
  const commands: EffectiveCommand[] = []
  // What the outer command writes to, the commands it runs write to.
  const inner: UnwrapContext = { ...context, redirects: [...context.redirects, ...outer.redirects] }
  for (const source of sources) {
    const parsed = parseShell(source, { depth: outer.depth + 1, budget: context.budget, definitions: context.definitions })
    if (!parsed.ok) return { ok: false, error: `in the command line given to ${name}: ${parsed.error}` }
    for (const command of parsed.commands) {
      const result = effectiveCommands(command, inner)
      if (!result.ok) return result
      commands.push(...result.commands)
    }
  }
  return { ok: true, commands }
}

function effective (command: SimpleCommand, i: number, context: UnwrapContext): EffectiveCommand {
  const base = i === 0 ? 0 : command.words[i].offset
  return {
    argv: command.argv.slice(i),
    raw: command.words.slice(i).map((w) => w.raw),
    offsets: command.words.slice(i).map((w) => w.offset - base),
    text: command.text.slice(base),
    redirects: [...context.redirects, ...command.redirects],
    privileged: context.privileged,
    assignments: context.assignments ?? [],
    ...(context.xargs === undefined ? {} : { xargs: context.xargs })
  }
}

/** The command from its `k`th word on, as run by the same wrappers. */
export function tailOf (command: EffectiveCommand, k: number): EffectiveCommand {
  const base = command.offsets[k]
  return {
    ...command,
    argv: command.argv.slice(k),
    raw: command.raw.slice(k),
    offsets: command.offsets.slice(k).map((o) => o - base),
    text: command.text.slice(base)
  }
}
