/**
 * Wrappers run another command: `nohup rm -rf /` deletes as surely as `rm -rf /`. Each one
 * says where in its argv the command it runs starts, or which strings it hands to a shell;
 * the ones that change who runs it are in run-as.ts.
 */
import { operands, optionValues, scanOptions, type OptionSpec } from './options.js'

export interface XargsInput {
  /** `-I`'s replace string: operands holding it come from the input. */
  replace?: string
}

export type Step =
  | { kind: 'command', at: number, privileged?: boolean, xargs?: XargsInput }
  | { kind: 'script', sources: string[], privileged?: boolean, xargs?: XargsInput }
  | { kind: 'self' }

export type Wrapper = (argv: string[], i: number) => Step

export const SELF: Step = { kind: 'self' }

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/

/** Command lines handed to a shell; none means the wrapper runs nothing else. */
export const shellStrings = (sources: string[], extra: { privileged?: boolean, xargs?: XargsInput } = {}): Step =>
  sources.length > 0 ? { ...extra, kind: 'script', sources } : SELF

/** Past `NAME=value` words (and a `--` among them), to the command a wrapper runs. */
export const skipAssignments = (argv: string[], j: number): number => {
  while (j < argv.length && (argv[j] === '--' || ASSIGNMENT.test(argv[j]))) j++
  return j
}

/** A wrapper that takes options (per `spec`), then `skip` operands of its own, then the command. */
export const plain = (spec: OptionSpec = {}, skip = 0) => (argv: string[], i: number): Step & { kind: 'command' } =>
  ({ kind: 'command', at: scanOptions(argv, i + 1, spec).next + skip })

const env: Wrapper = (argv, i) => {
  const o = scanOptions(argv, i + 1, { short: 'uCPS', long: ['unset', 'chdir', 'split-string'] })
  let at = o.next
  // A lone `-` means -i; assignments come before the command.
  while (at < argv.length && argv[at] === '-') at = skipAssignments(argv, at + 1)
  at = skipAssignments(argv, at)
  const split = o.values.get('S') ?? o.values.get('split-string')
  return split === undefined ? { kind: 'command', at } : shellStrings([[split, ...argv.slice(at)].join(' ')])
}

const command: Wrapper = (argv, i) => {
  const o = scanOptions(argv, i + 1)
  // `command -v rm` looks rm up; it does not run it.
  return o.flags.has('v') || o.flags.has('V') ? SELF : { kind: 'command', at: o.next }
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

const PARALLEL: OptionSpec = {
  short: 'aCdEIjnNLPsS',
  long: ['arg-file', 'colsep', 'delimiter', 'eof', 'replace', 'jobs', 'max-args', 'max-replace-args', 'max-lines', 'max-chars',
    'sshlogin', 'sshloginfile', 'results', 'joblog', 'tmpdir', 'workdir', 'timeout', 'delay', 'retries', 'halt', 'env', 'basefile',
    'return', 'transferfile', 'tagstring', 'memfree', 'load', 'nice']
}

/** GNU parallel joins its command words into a line for a shell, and fills in its input: like xargs. */
const parallel: Wrapper = (argv, i) => {
  const at = scanOptions(argv, i + 1, PARALLEL).next
  let end = at
  while (end < argv.length && !/^::::?\+?$/.test(argv[end])) end++
  return end > at ? shellStrings([argv.slice(at, end).join(' ')], { xargs: {} }) : SELF
}

const watch: Wrapper = (argv, i) => {
  const o = scanOptions(argv, i + 1, { short: 'nq', long: ['interval', 'equexit'] })
  // watch hands its operands, joined, to `sh -c` unless told to exec them.
  if (o.flags.has('x') || o.flags.has('exec')) return { kind: 'command', at: o.next }
  return shellStrings(o.next < argv.length ? [argv.slice(o.next).join(' ')] : [])
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
  return shellStrings(dashC && j < argv.length ? [argv[j]] : [])
}

/** `trap ACTION SIGNAL…` runs ACTION later; `trap -p`, `trap - INT`, `trap '' INT` and `trap 2` run nothing. */
const trap: Wrapper = (argv, i) => {
  const o = scanOptions(argv, i + 1)
  const action = argv[o.next]
  if (o.flags.has('l') || o.flags.has('p') || action === undefined || action === '-' || /^\d*$/.test(action)) return SELF
  return shellStrings([action])
}

/** `alias NAME='STRING'`: STRING is a command line waiting to run. */
const alias: Wrapper = (argv, i) =>
  shellStrings(operands(argv, i + 1).filter((w) => w.indexOf('=') > 0).map((w) => w.slice(w.indexOf('=') + 1)))

const FLOCK: OptionSpec = { short: 'wEc', long: ['timeout', 'wait', 'conflict-exit-code', 'command'] }

/** `flock [opts] FILE CMD…`, `flock [opts] FILE -c STRING`; `flock FD` runs nothing. */
const flock: Wrapper = (argv, i) => {
  const o = scanOptions(argv, i + 1, FLOCK)
  const after = scanOptions(argv, o.next + 1, FLOCK)
  const sources = [...o.given, ...after.given].filter(([name]) => name === 'c' || name === 'command').map(([, value]) => value)
  return sources.length > 0 ? shellStrings(sources) : { kind: 'command', at: o.next + 1 }
}

const SCRIPT: OptionSpec = {
  short: 'cBIOTEmo',
  shortOptional: 't',
  long: ['command', 'log-io', 'log-in', 'log-out', 'log-timing', 'echo', 'logging-format', 'output-limit']
}

export const WRAPPERS: Record<string, Wrapper> = {
  env,
  command,
  xargs,
  parallel,
  watch,
  trap,
  alias,
  flock,
  // util-linux script: `script [opts] -c STRING [FILE]`, options anywhere.
  script: (argv, i) => shellStrings(optionValues(argv, i + 1, ['c', 'command'], SCRIPT)),
  coproc: plain(),
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
  eval: (argv, i) => shellStrings(i + 1 < argv.length ? [argv.slice(i + 1).join(' ')] : [])
}
for (const name of ['sh', 'bash', 'zsh', 'dash', 'ksh', 'ash', 'mksh']) WRAPPERS[name] = shell
