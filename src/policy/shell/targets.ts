/**
 * Changes aimed at a protected path are destructive: `chmod -R 000 /`, `mv /etc /dev/null`,
 * `cp /dev/null /etc/passwd`, `> /etc/passwd`, `cat /dev/zero > /dev/sda`. Protected here are
 * the paths the delete guard knows (but the working directory: `chmod -R u+w .` is everyday
 * work) and the system directories, everything under them included.
 */
import { operands, hasOption, optionValues, type OptionSpec } from './options.js'
import { compileProtection, type Protection } from './protect.js'

/** System directories: a write, move or mode change anywhere under them is destructive. */
export const SYSTEM_PATHS: readonly string[] = ['/etc/**', '/usr/**', '/boot/**', '/var/**', '/dev/**', '/bin/**', '/sbin/**',
  '/lib/**', '/lib32/**', '/lib64/**', '/root/**', '/proc/**', '/sys/**', '/srv', '/opt', '/home']
// Scratch places and character devices that are no file on disk.
const EXEMPT = /^\/(?:tmp|var\/tmp|dev\/shm)(?:\/|$)|^\/dev\/(?:null|zero|full|random|urandom|stdin|stdout|stderr|tty|fd\/\d+)$/
const WORKING_DIRECTORY = new Set(['.', './', '..', '*'])

/** The protection system changes are checked against: the policy's paths and the system's. */
export function compileSystemProtection (protectedPaths: readonly string[]): Protection {
  const inner = compileProtection([...SYSTEM_PATHS, ...protectedPaths.filter((p) => !WORKING_DIRECTORY.has(p))], undefined, false)
  return { protects: (target) => !EXEMPT.test(target) && inner.protects(target) }
}

const MODE: OptionSpec = { long: ['reference', 'from'] }
const COPY: OptionSpec = { short: 'tSbm', long: ['target-directory', 'suffix', 'backup', 'mode', 'owner', 'group', 'sparse', 'reflink', 'preserve', 'no-preserve'] }

/** The words of `name args` that it changes and that are protected, as written. */
export function protectedTargets (name: string, args: readonly string[], protection: () => Protection): string[] {
  const targets = changed(name, args)
  return targets.length === 0 ? targets : targets.filter((t) => protection().protects(t))
}

function changed (name: string, args: readonly string[]): string[] {
  switch (name) {
    case 'chmod': case 'chown': case 'chgrp': {
      const ops = operands(args, 0, MODE)
      // The mode or owner comes first, unless --reference names a file to copy it from.
      return hasOption(args, 0, ['reference'], MODE) ? ops : ops.slice(1)
    }
    case 'chattr': case 'setfacl':
      return args.filter((w) => !/^[-+=]/.test(w))
    case 'mv':
      return operands(args, 0, COPY).concat(optionValues(args, 0, ['t', 'target-directory'], COPY))
    case 'cp': case 'install': case 'ln': case 'rsync': {
      const target = optionValues(args, 0, ['t', 'target-directory'], COPY)
      const ops = operands(args, 0, COPY)
      return target.length > 0 ? target : ops.slice(-1)
    }
    case 'sort':
      return optionValues(args, 0, ['o', 'output'], { short: 'kotST', long: ['key', 'field-separator', 'output', 'buffer-size', 'temporary-directory'] })
    case 'dd':
      return args.filter((w) => w.startsWith('of=')).map((w) => w.slice(3))
    case 'tee': case 'truncate': case 'shred': case 'wipefs': case 'mkswap':
      return operands(args, 0, { short: 'sor', long: ['size', 'reference', 'output-error'] })
  }
  return []
}
