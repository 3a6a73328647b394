/**
 * What a command does, as classes a policy can match: a table of well-known commands (and,
 * for tools like git or kubectl, their subcommands). A command missing from the table is
 * `unknown`, never guessed to be harmless; a reader is `read_only` only when its arguments
 * have a shape known to only read (read-shapes.ts).
 */
import { assignedByBuiltin, assignmentsVerdict } from './environment.js'
import { hasOption, operands, scanOptions, type OptionSpec } from './options.js'
import type { Protection } from './protect.js'
import { READ_SHAPES } from './read-shapes.js'
import { sedOutcome } from './sed.js'
import { checkShape } from './shapes.js'
import { protectedTargets } from './targets.js'
import { TOOLS } from './tools.js'
import { commandName } from './unwrap.js'
import { applyRule, classesOf, D, DN, N, NW, P, R, reasonOf, U, verdict, W, type CommandClass, type Outcome, type Rule } from './classes.js'
import { STORAGE } from './storage.js'

/** Redirect targets that are not files on disk. */
const HARMLESS_TARGETS = new Set(['/dev/null', '/dev/stdout', '/dev/stderr', '/dev/tty'])

const table = new Map<string, Rule>()
const define = (names: string, rule: Rule): void => { for (const name of names.split(/\s+/)) table.set(name, rule) }

define(`ls cat head tail less more grep egrep fgrep zgrep rg ag ack echo printf pwd whoami id date uname printenv
  which whereis type wc stat du df ps top htop uniq cut jq tr tac nl paste join column fold comm diff cmp md5sum
  sha1sum sha256sum sha512sum cksum base64 xxd od hexdump strings file tree basename dirname realpath readlink seq
  sleep yes uptime free lsof lsblk lscpu nproc groups who w last tty getent locale man zcat bzcat xzcat journalctl
  dmesg true false test [ [[ : cd pushd popd export unset set shopt local declare typeset readonly shift return
  exit read wait umask ulimit jobs times getopts let hash alias unalias history trap
  env xargs time nice nohup timeout exec builtin command busybox stdbuf setsid ionice watch eval`, R)
define('cp mv mkdir touch ln install patch mktemp gzip gunzip zip unzip xz unxz bzip2 split mkfifo chmod chgrp rename chattr setfacl', W)
define('rm rmdir unlink shred truncate wipefs fdisk sfdisk parted mkswap reboot shutdown halt poweroff kill pkill killall', D)
define('dd', (a) => a.some((w) => w.startsWith('of=')) ? W : R)
define('wget', (a) => a.includes('--spider') || writesToStdout(a) ? N : NW)
define('ssh sftp nc ncat netcat telnet ftp ping ping6 dig nslookup host traceroute mtr whois socat nmap', N)
define('scp', NW)
define('rsync', (a) => hasOption(a, 0, ['delete', 'delete-after', 'delete-before', 'delete-during', 'remove-source-files']) ? DN : NW)
define(`su runuser pkexec setpriv unshare nsenter systemd-run mount umount systemctl service iptables ip6tables nft chroot
  setcap useradd usermod userdel groupadd groupmod groupdel passwd chpasswd insmod modprobe rmmod visudo swapon swapoff ufw
  firewall-cmd hostnamectl losetup cryptsetup`, P)
define('sudo', (a) => hasOption(a, 0, ['e', 'edit']) ? ['privileged', 'write'] : P)
define('doas', P)
define('chown', ['privileged', 'write'])
define('npx pnpx bunx', ['network', 'unknown'])
define('curl', (a) => a.some((w) => /^-[A-Za-z]*[oO]/.test(w) || /^--(output|remote-name)/.test(w)) ? NW : N)
define('sed', (a) => sedInPlace(a) ? W : sedOutcome(a))
define('awk gawk mawk nawk', awk)
define('sort', sort)
define('tee', (a) => operands(a, 0).some((f) => !HARMLESS_TARGETS.has(f)) ? W : R)
define('yq', (a) => hasOption(a, 0, ['i', 'inplace']) ? W : R)
define('tar', tar)
define('sysctl', (a) => hasOption(a, 0, ['w', 'write']) || operands(a, 0).some((w) => w.includes('=')) ? P : R)
define('hostname', (a) => operands(a, 0).length > 0 || hasOption(a, 0, ['F', 'file']) ? P : R)
define('crontab', (a) => hasOption(a, 0, ['r']) ? D : hasOption(a, 0, ['l']) ? R : W)
define('find', find)
for (const [name, rule] of Object.entries(STORAGE)) define(name, rule)
for (const [name, rule] of Object.entries(TOOLS)) define(name, rule)

function writesToStdout (args: string[]): boolean {
  return args.some((w, i) => w === '-O-' || w === '--output-document=-' || (/^-[A-Za-z]*O-$/.test(w)) || (/^-[A-Za-z]*O$/.test(w) && args[i + 1] === '-'))
}

/** `-i`, `-i.bak`, `-Ei`, `--in-place`: a cluster's letters up to the first that takes an argument. */
function sedInPlace (args: string[]): boolean {
  for (const word of args) {
    if (word.startsWith('--in-place')) return true
    if (!/^-[^-]/.test(word)) continue
    for (const letter of word.slice(1)) {
      if (letter === 'i') return true
      if ('efl'.includes(letter)) break
    }
  }
  return false
}

const SORT: OptionSpec = { short: 'kotST', long: ['key', 'field-separator', 'output', 'buffer-size', 'temporary-directory', 'compress-program', 'files0-from', 'parallel', 'sort', 'random-source', 'batch-size'] }

function sort (args: string[]): Outcome {
  if (hasOption(args, 0, ['compress-program'], SORT)) return verdict(U, 'sort --compress-program runs a program')
  return hasOption(args, 0, ['o', 'output'], SORT) ? W : R
}

/** tar lists (`t`, `--list`) or it writes; a listing can still run programs it is told of. */
function tar (args: string[]): Outcome {
  if (!/^-?[A-Za-z]*t/.test(args[0] ?? '') && !hasOption(args, 0, ['list'])) return W
  const runs = args.find((w) => /^--(to-c|use-c|checkpoint-a|info-s|new-v|rmt|rsh|index-f)/.test(w) || /^-[A-Za-z]*[IF]/.test(w))
  return runs === undefined ? R : verdict(U, `tar ${runs.split('=')[0]} runs a program or writes a file`)
}

const AWK_OPTIONS = new Set(['F', 'v', 'field-separator', 'assign'])

/** A program that calls system() or pipes to a command runs who knows what; `>` may write a file. */
function awk (args: string[]): Outcome {
  const spec: OptionSpec = { short: 'Fvf', long: ['field-separator', 'assign', 'file'] }
  if (hasOption(args, 0, ['f', 'file'], spec)) return verdict(U, 'awk -f runs a program Arbiter cannot see')
  const other = [...scanOptions(args, 0, spec).flags].find((f) => !AWK_OPTIONS.has(f))
  if (other !== undefined) return verdict(U, `awk: '${other}' is not an option Arbiter knows to only read`)
  const program = operands(args, 0, spec)[0] ?? ''
  if (/system\s*\(|\||@load|ENVIRON\[/.test(program)) return verdict(U, 'the awk program runs a command or loads code')
  return program.includes('>') ? W : R
}

/** find reads; -delete destroys; -exec runs a command, classified in turn. */
function find (args: string[]): readonly CommandClass[] {
  const classes = new Set<CommandClass>(R)
  for (let i = 0; i < args.length; i++) {
    const word = args[i]
    if (word === '-delete') classes.add('destructive')
    if (/^-f(print0?|printf|ls)$/.test(word)) classes.add('write')
    if (!/^-(exec|execdir|ok|okdir)$/.test(word)) continue
    let end = i + 1
    while (end < args.length && args[end] !== ';' && args[end] !== '+') end++
    for (const c of classifyArgv(args.slice(i + 1, end)).classes) classes.add(c)
    i = end
  }
  return [...classes]
}

/** Whether the table knows the command `name` (a name missing from it is `unknown`). */
export const isKnownCommand = (name: string): boolean => table.has(name) || name.startsWith('mkfs')

export interface Classified {
  classes: CommandClass[]
  /** Why the command is not what its name alone says, when it is not. */
  reason?: string
}

/** Classes of one command line's argv, from the table and the argument shapes (no redirects, no wrappers). */
export function classifyArgv (argv: readonly string[]): Classified {
  if (argv.length === 0) return { classes: ['read_only'] }
  const name = commandName(argv[0])
  const args = argv.slice(1)
  const rule = table.get(name) ?? (name.startsWith('mkfs') ? D : U)
  let outcome = applyRule(rule, args)
  const readShape = READ_SHAPES.get(name)
  if (readShape !== undefined && reasonOf(outcome) === undefined && classesOf(outcome).includes('read_only')) {
    const shaped = checkShape(readShape, args)
    if ('reason' in shaped) outcome = { classes: [...classesOf(outcome).filter((c) => c !== 'read_only'), ...shaped.classes], reason: shaped.reason }
  }
  const assigned = assignedByBuiltin(name, args)
  if (assigned !== undefined) outcome = assigned
  return classified(outcome)
}

const classified = (o: Outcome): Classified => {
  const reason = reasonOf(o)
  return { classes: settle(classesOf(o)), ...(reason === undefined ? {} : { reason }) }
}

export interface ClassifyInput {
  argv: readonly string[]
  redirects: readonly string[]
  privileged: boolean
  /** `NAME=value` words the command runs with (before it, or given to env, sudo…). */
  assignments?: readonly string[]
}

/** The classes of an effective command: its table entry, its environment, what it writes to, how it was run. */
export function classifyCommand (command: ClassifyInput, system: () => Protection): Classified {
  const { argv, redirects, privileged } = command
  const found = classifyArgv(argv)
  const classes: CommandClass[] = found.classes
  let reason = found.reason
  const name = argv.length === 0 ? '' : commandName(argv[0])
  const written = redirects.filter((target) => !HARMLESS_TARGETS.has(target))
  if (written.length > 0) classes.push('write')
  const aimed = [...protectedTargets(name, argv.slice(1), system), ...written.filter((t) => system().protects(t))]
  if (aimed.length > 0) {
    classes.push('destructive')
    reason = `changes protected path '${aimed[0]}'`
  }
  const environment = assignmentsVerdict(command.assignments ?? [])
  if (environment !== undefined) {
    classes.push(...environment.classes)
    reason ??= environment.reason
    if (classes.includes('privileged')) classes.splice(0, classes.length, ...classes.filter((c) => c !== 'read_only'))
  }
  if (privileged) classes.push('privileged')
  return { classes: settle(classes), ...(reason === undefined ? {} : { reason }) }
}

/**
 * Sorted and unique. read_only says the command changes nothing, so it gives way to write,
 * destructive and unknown; network and privileged say where and as whom, and sit beside it.
 */
function settle (classes: readonly CommandClass[]): CommandClass[] {
  const set = new Set(classes)
  if (set.has('write') || set.has('destructive') || set.has('unknown')) set.delete('read_only')
  return [...set].sort()
}
