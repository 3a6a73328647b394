/**
 * The shell guard's entry point: parse a job's command, find what it would really run
 * (behind sudo, xargs, `sh -c` and the like), classify each command, and find recursive
 * forced deletes aimed at protected paths. Pure: no I/O, nothing is executed.
 */
import { ShellBudget } from './braces.js'
import { classifyCommand } from './classify.js'
import type { CommandClass } from './classes.js'
import { forcedDeletes, type ForcedDelete } from './forced-delete.js'
import { newDefinitions, parseShell, type Definitions } from './parse.js'
import { compileProtection, type Protection } from './protect.js'
import { compileSystemProtection } from './targets.js'
import { commandName, effectiveCommands } from './unwrap.js'

export { COMMAND_CLASSES, type CommandClass } from './classes.js'
export type { ForcedDelete } from './forced-delete.js'

// `${HOME}` is meant literally: the spelling a command would use.
// eslint-disable-next-line no-template-curly-in-string
export const DEFAULT_PROTECTED_PATHS: readonly string[] = ['/', '/*', '~', '~/', '$HOME', '${HOME}', '.', './', '..', '*']

export interface AnalyzeOptions {
  /** Paths a recursive forced delete must not reach; an entry ending in `/**` protects all under it. */
  protectedPaths: readonly string[]
  /** The absolute path the command runs in; `.`, `$PWD` and relative targets resolve against it. */
  workingDirectory?: string
}

export interface AnalyzedCommand {
  /**
   * The effective command's words, wrappers removed; the first is the name it runs
   * (`/usr/bin/git` → `git`, `\rm` → `rm`, `$(which git)` → `git`), so patterns match however it is spelled.
   */
  argv: string[]
  /** The effective command as written. */
  text: string
  classes: CommandClass[]
  /** Why it is not what its name alone says (an option, a variable, a protected target…), when it is not. */
  reason?: string
}

export type CommandAnalysis =
  | { parsed: true, commands: AnalyzedCommand[], classes: CommandClass[], forcedDeletes: ForcedDelete[] }
  | { parsed: false, error: string, classes: ['unknown'], commands: [], forcedDeletes: [] }

/** Analyzes a shell command line; an unparseable one is reported as such, classed `unknown`. */
export function analyzeCommand (source: string, options: AnalyzeOptions): CommandAnalysis {
  // One budget for brace expansion over the whole analysis, strings run by `bash -c` included.
  const budget = new ShellBudget()
  const definitions = newDefinitions()
  const parsed = parseShell(source, { budget, definitions })
  if (!parsed.ok) return unparseable(parsed.error)
  // Compiled only for a command that needs them: most need neither.
  let compiled: Protection | undefined
  let system: Protection | undefined
  const protection = (): Protection => (compiled ??= compileProtection(options.protectedPaths, options.workingDirectory))
  const systemProtection = (): Protection => (system ??= compileSystemProtection(options.protectedPaths))
  const commands: AnalyzedCommand[] = []
  const deletes: ForcedDelete[] = []
  for (const simple of parsed.commands) {
    const unwrapped = effectiveCommands(simple, { privileged: false, redirects: [], budget, definitions })
    if (!unwrapped.ok) return unparseable(unwrapped.error)
    for (const command of unwrapped.commands) {
      const argv = command.argv.length === 0 ? [] : [commandName(command.argv[0]), ...command.argv.slice(1)]
      const { classes, reason } = classifyCommand(command, systemProtection)
      commands.push({ argv, text: command.text, classes, ...(reason === undefined ? {} : { reason }) })
      deletes.push(...forcedDeletes(command, protection))
    }
  }
  for (const command of commands) calledDefinition(command, definitions)
  const classes = [...new Set(commands.flatMap((c) => c.classes))].sort()
  return { parsed: true, commands, classes, forcedDeletes: deletes }
}

/**
 * A name the command line defines as a function or alias runs what the definition says, not
 * what the table says of the name (`ls(){ rm -rf x; }; ls`): at least unknown. A function that
 * runs itself beside itself (`:(){ :|:& };:`) is a fork bomb: destructive.
 */
function calledDefinition (command: AnalyzedCommand, definitions: Definitions): void {
  const name = command.argv[0]
  if (name === undefined) return
  const fn = definitions.functions.get(name)
  if (fn?.forkBomb === true) {
    command.classes = ['destructive']
    command.reason = `function '${name}' runs itself in the background or a pipeline: a fork bomb`
  } else if (fn !== undefined || definitions.aliases.has(name)) {
    command.classes = [...new Set([...command.classes.filter((c) => c !== 'read_only'), 'unknown' as const])].sort()
    command.reason = `'${name}' is a ${fn !== undefined ? 'function' : 'alias'} this command line defines`
  }
}

function unparseable (error: string): CommandAnalysis {
  return { parsed: false, error, classes: ['unknown'], commands: [], forcedDeletes: [] }
}
