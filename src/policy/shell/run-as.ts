/**
 * Wrappers that change who runs a command, or in which namespaces: what they run is judged as
 * if run directly, and marked privileged.
 */
import { hasOption, optionValues, scanOptions, type OptionSpec } from './options.js'
import { plain, SELF, shellStrings, skipAssignments, type Step, type Wrapper } from './wrappers.js'

const SUDO: OptionSpec = {
  short: 'ugCDprtTUR',
  long: ['user', 'group', 'close-from', 'chdir', 'prompt', 'role', 'type', 'command-timeout', 'other-user', 'chroot', 'host']
}

const sudo: Wrapper = (argv, i) => {
  const o = scanOptions(argv, i + 1, SUDO)
  // -e edits files, -l lists rights, -v and -K only touch credentials: none runs the operands.
  if (['e', 'edit', 'l', 'list', 'v', 'validate', 'K', 'remove-timestamp'].some((f) => o.flags.has(f))) return SELF
  return { kind: 'command', at: skipAssignments(argv, o.next), privileged: true }
}

const doas: Wrapper = (argv, i) => {
  const o = scanOptions(argv, i + 1, { short: 'uC' })
  return o.flags.has('C') ? SELF : { kind: 'command', at: o.next, privileged: true }
}

const SU: OptionSpec = { short: 'cgGswu', long: ['command', 'session-command', 'group', 'supp-group', 'shell', 'whitelist-environment', 'user'] }

/**
 * su (and runuser without -u) permute their options and hand any extra arguments to the user's
 * shell: a `-c` anywhere, before the user or after it, even after `--`, runs its string.
 */
const su = (runuser: boolean): Wrapper => (argv, i) => {
  // `runuser -u USER [--] CMD…` runs CMD itself, with no shell.
  if (runuser && hasOption(argv, i + 1, ['u', 'user'], SU)) return { kind: 'command', at: scanOptions(argv, i + 1, SU).next, privileged: true }
  return shellStrings(optionValues(argv, i + 1, ['c', 'command', 'session-command'], SU, true), { privileged: true })
}

const privileged = (wrapper: (argv: string[], i: number) => Step & { kind: 'command' }): Wrapper =>
  (argv, i) => ({ ...wrapper(argv, i), privileged: true })

const SETPRIV: OptionSpec = {
  long: ['ruid', 'euid', 'rgid', 'egid', 'reuid', 'regid', 'groups', 'inh-caps', 'ambient-caps', 'bounding-set', 'securebits',
    'pdeathsig', 'selinux-label', 'apparmor-profile', 'landlock-access', 'landlock-rule']
}
const UNSHARE: OptionSpec = {
  short: 'RwSGl',
  long: ['propagation', 'setgroups', 'root', 'wd', 'setuid', 'setgid', 'map-user', 'map-group', 'map-users', 'map-groups', 'monotonic', 'boottime', 'load-interp']
}
const NSENTER: OptionSpec = { short: 'tSG', shortOptional: 'muinpUCTrw', long: ['target', 'setuid', 'setgid'] }
const SYSTEMD_RUN: OptionSpec = {
  short: 'upEHM',
  long: ['unit', 'property', 'setenv', 'description', 'slice', 'host', 'machine', 'uid', 'gid', 'nice', 'working-directory',
    'service-type', 'on-active', 'on-boot', 'on-startup', 'on-unit-active', 'on-unit-inactive', 'on-calendar', 'path-property',
    'socket-property', 'timer-property']
}

/** systemd-run hands the command to the system manager, which runs it as root unless `--user`. */
const systemdRun: Wrapper = (argv, i): Step => {
  const o = scanOptions(argv, i + 1, SYSTEMD_RUN)
  return { kind: 'command', at: o.next, privileged: !o.flags.has('user') }
}

export const RUN_AS: Record<string, Wrapper> = {
  sudo,
  doas,
  su: su(false),
  runuser: su(true),
  pkexec: privileged(plain({ long: ['user'] })),
  chroot: privileged(plain({ long: ['userspec', 'groups'] }, 1)),
  setpriv: privileged(plain(SETPRIV)),
  unshare: privileged(plain(UNSHARE)),
  nsenter: privileged(plain(NSENTER)),
  'systemd-run': systemdRun
}
