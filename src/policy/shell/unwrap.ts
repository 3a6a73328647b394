/**
 * Wrappers run another command: `sudo rm -rf /` deletes as surely as `rm -rf /`. Unwrapping
 * finds the effective command behind any chain of them, and parses the command lines that
 * shells and `eval` take as a string, so a policy judges what would actually run.
 */
import { parseShell, type SimpleCommand } from './parse.js'
import { scanOptions, type OptionSpec } from './options.js'

export interface XargsInput {
  /** `-I`'s replace string: operands holding it come from the input. */
  replace?: string
}

export interface EffectiveCommand {
  argv: string[]
  /** `argv`'s words as written. */
  raw: string[]
  /** The effective command as written, from its name on. */
  text: string
  redirects: string[]
  /** Run through sudo, doas, su, pkexec or chroot. */
  privileged: boolean
  /** Run by xargs, which appends operands read from its input. */
  xargs?: XargsInput
}

export type UnwrapResult = { ok: true, commands: EffectiveCommand[] } | { ok: false, error: string }

type Step =
  | { kind: 'command', at: number, privileged?: boolean, xargs?: XargsInput }
  | { kind: 'script', source: string, privileged?: boolean }
  | { kind: 'self' }

type Wrapper = (argv: string[], i: number) => Step

interface Context { privileged: boolean, xargs?: XargsInput, redirects: string[] }

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/
const LOCATED = /^(?:\$\(|`)\s*(?:which|command\s+-v|type\s+-P)\s+([^\s`)]+)\s*(?:\)|`)$/

/** The name a command word runs: `/usr/bin/sudo` → `sudo`, `$(which rm)` → `rm`. */
export function commandName (word: string): string {
  const located = LOCATED.exec(word)?.[1] ?? word
  return located.slice(located.lastIndexOf('/') + 1)
}

/** Past `NAME=value` words (and a `--` among them), to the command a wrapper runs. */
const skipAssignments = (argv: string[], j: number): number => {
  while (j < argv.length && (argv[j] === '--' || ASSIGNMENT.test(argv[j]))) j++
  return j
}

/** A wrapper that takes options (per `spec`), then `skip` operands of its own, then the command. */
const plain = (spec: OptionSpec = {}, skip = 0) => (argv: string[], i: number): Step & { kind: 'command' } =>
  ({ kind: 'command', at: scanOptions(argv, i + 1, spec).next + skip })

const sudo: Wrapper = (argv, i) => {
  const o = scanOptions(argv, i + 1, { short: 'ugCDprtTUR', long: ['user', 'group', 'close-from', 'chdir', 'prompt', 'role', 'type', 'command-timeout', 'other-user', 'chroot', 'host'] })
  // -e edits files, -l lists rights, -v and -K only touch credentials: none runs the operands.
  if (['e', 'edit', 'l', 'list', 'v', 'validate', 'K', 'remove-timestamp'].some((f) => o.flags.has(f))) return { kind: 'self' }
  return { kind: 'command', at: skipAssignments(argv, o.next), privileged: true }
}

const doas: Wrapper = (argv, i) => {
  const o = scanOptions(argv, i + 1, { short: 'uC' })
  return o.flags.has('C') ? { kind: 'self' } : { kind: 'command', at: o.next, privileged: true }
}

const env: Wrapper = (argv, i) => {
  const o = scanOptions(argv, i + 1, { short: 'uCPS', long: ['unset', 'chdir', 'split-string'] })
  let at = o.next
  // A lone `-` means -i; assignments come before the command.
  while (at < argv.length && argv[at] === '-') at = skipAssignments(argv, at + 1)
  at = skipAssignments(argv, at)
  const split = o.values.get('S') ?? o.values.get('split-string')
  return split === undefined ? { kind: 'command', at } : { kind: 'script', source: [split, ...argv.slice(at)].join(' ') }
}

const command: Wrapper = (argv, i) => {
  const o = scanOptions(argv, i + 1)
  // `command -v rm` looks rm up; it does not run it.
  return o.flags.has('v') || o.flags.has('V') ? { kind: 'self' } : { kind: 'command', at: o.next }
}

const xargs: Wrapper = (argv, i) => {
  const o = scanOptions(argv, i + 1, {
    short: 'IEdLnPsa',
    shortOptional: 'iel',
    long: ['arg-file', 'delimiter', 'max-args', 'max-procs', 'max-chars', 'process-slot-var']
  })
  const optional = (name: string): string | undefined => o.flags.has(name) ? (o.values.get(name) ?? '') || '{}' : undefined
  const replace = o.values.get('I') ?? optional('i') ?? optional('replace')
  return { kind: 'command', at: o.next, xargs: replace === undefined ? {} : { replace } }
}

const su: Wrapper = (argv, i) => {
  const o = scanOptions(argv, i + 1, { short: 'cgGsw', long: ['command', 'session-command', 'group', 'supp-group', 'shell', 'whitelist-environment'] })
  const source = o.values.get('c') ?? o.values.get('command') ?? o.values.get('session-command')
  return source === undefined ? { kind: 'self' } : { kind: 'script', source, privileged: true }
}

const watch: Wrapper = (argv, i) => {
  const o = scanOptions(argv, i + 1, { short: 'nq', long: ['interval', 'equexit'] })
  // watch hands its operands, joined, to `sh -c` unless told to exec them.
  if (o.flags.has('x') || o.flags.has('exec')) return { kind: 'command', at: o.next }
  return o.next < argv.length ? { kind: 'script', source: argv.slice(o.next).join(' ') } : { kind: 'self' }
}

/** `bash [opts] -c STRING [NAME ARGS…]`; without -c a shell runs a file or its input: itself. */
const shell: Wrapper = (argv, i) => {
  let j = i + 1
  let dashC = false
  while (j < argv.length && /^[-+]./.test(argv[j])) {
    const word = argv[j++]
    if (word === '--') break
    if (/^[-+]o$|^[-+]O$|^--(rcfile|init-file)$/.test(word)) j++
    else if (/^-[A-Za-z]+$/.test(word) && word.includes('c')) dashC = true
  }
  return dashC && j < argv.length ? { kind: 'script', source: argv[j] } : { kind: 'self' }
}

const WRAPPERS: Record<string, Wrapper> = {
  sudo,
  doas,
  env,
  command,
  xargs,
  su,
  watch,
  builtin: plain(),
  exec: plain({ short: 'a' }),
  nohup: plain(),
  nice: plain({ short: 'n', long: ['adjustment'] }),
  time: plain({ short: 'fo', long: ['format', 'output'] }),
  timeout: plain({ short: 'sk', long: ['signal', 'kill-after'] }, 1),
  busybox: plain(),
  stdbuf: plain({ short: 'ioe', long: ['input', 'output', 'error'] }),
  setsid: plain(),
  ionice: plain({ short: 'cn', long: ['class', 'classdata'] }),
  pkexec: (argv, i) => ({ ...plain({ long: ['user'] })(argv, i), privileged: true }),
  chroot: (argv, i) => ({ ...plain({ long: ['userspec', 'groups'] }, 1)(argv, i), privileged: true }),
  eval: (argv, i) => i + 1 < argv.length ? { kind: 'script', source: argv.slice(i + 1).join(' ') } : { kind: 'self' }
}
for (const name of ['sh', 'bash', 'zsh', 'dash', 'ksh', 'ash', 'mksh']) WRAPPERS[name] = shell

/** The commands a simple command really runs, behind any wrappers and `sh -c` strings. */
export function effectiveCommands (command: SimpleCommand, context: Context = { privileged: false, redirects: [] }): UnwrapResult {
  const { argv } = command
  let privileged = context.privileged
  let xargs = context.xargs
  let i = 0
  while (i < argv.length) {
    const name = commandName(argv[i])
    const step: Step = Object.hasOwn(WRAPPERS, name) ? WRAPPERS[name](argv, i) : { kind: 'self' }
    if (step.kind === 'self') break
    privileged ||= step.privileged === true
    if (step.kind === 'script') return unwrapScript(name, step.source, command, { privileged, xargs, redirects: context.redirects })
    // A wrapper with nothing after it (`sudo`, `env A=1`) is itself the command.
    if (step.at >= argv.length) break
    xargs ??= step.xargs
    i = step.at
  }
  return { ok: true, commands: [effective(command, i, privileged, xargs, context.redirects)] }
}

function unwrapScript (name: string, source: string, outer: SimpleCommand, context: Context): UnwrapResult {
  const parsed = parseShell(source, { depth: outer.depth + 1 })
  if (!parsed.ok) return { ok: false, error: `in the command line given to ${name}: ${parsed.error}` }
  const commands: EffectiveCommand[] = []
  // What the outer command writes to, the commands it runs write to.
  const inner: Context = { ...context, redirects: [...context.redirects, ...outer.redirects] }
  for (const command of parsed.commands) {
    const result = effectiveCommands(command, inner)
    if (!result.ok) return result
    commands.push(...result.commands)
  }
  return { ok: true, commands }
}

function effective (command: SimpleCommand, i: number, privileged: boolean, xargs: XargsInput | undefined, redirects: string[]): EffectiveCommand {
  return {
    argv: command.argv.slice(i),
    raw: command.words.slice(i).map((w) => w.raw),
    text: i === 0 ? command.text : command.text.slice(command.words[i].offset),
    redirects: [...redirects, ...command.redirects],
    privileged,
    ...(xargs === undefined ? {} : { xargs })
  }
}
