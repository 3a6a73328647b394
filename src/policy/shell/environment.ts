/**
 * Variables that change what a command runs. `LD_PRELOAD=/tmp/x.so ls` is not `ls`: the loader,
 * the search path and the shell's start-up files decide which code runs (privileged); pagers,
 * editors, git's and ssh's command variables name a program to run (unknown).
 */
import { P, U, verdict, type Verdict } from './classes.js'

// The loader, the search path, start-up files and interpreters' own injection points.
const PRIVILEGED = new RegExp('^(?:PATH|LD_\\w*|DYLD_\\w*|BASH_ENV|ENV|PROMPT_COMMAND|PS[04]|SHELLOPTS|BASHOPTS|HOME|ZDOTDIR|' +
  'XDG_CONFIG_HOME|XDG_CONFIG_DIRS|XDG_DATA_DIRS|GIT_EXEC_PATH|GCONV_PATH|GLIBC_TUNABLES|LOCPATH|PYTHONPATH|PYTHONHOME|' +
  'PYTHONSTARTUP|PYTHONUSERBASE|NODE_OPTIONS|NODE_PATH|PERL5LIB|PERLLIB|PERL5OPT|RUBYOPT|RUBYLIB|JAVA_TOOL_OPTIONS|' +
  '_JAVA_OPTIONS|JDK_JAVA_OPTIONS|CLASSPATH|BASH_LOADABLES_PATH)$')
// A program to run, a configuration that can name one, or a file to write.
const RUNS = new RegExp('^(?:PAGER|MANPAGER|GIT_PAGER|SYSTEMD_PAGER|BAT_PAGER|PSQL_PAGER|MANOPT|MANPATH|LESS|LESSOPEN|' +
  'LESSCLOSE|LESSKEY\\w*|LESSEDIT|MORE|EDITOR|VISUAL|FCEDIT|SUDO_EDITOR|BROWSER|SHELL|TERMINFO|TERMCAP|' +
  'GIT_\\w+|SSH_ASKPASS|SSH_AUTH_SOCK|KUBECONFIG|DOCKER_CONFIG|DOCKER_HOST|TAR_OPTIONS|GREP_OPTIONS|RSYNC_RSH|CVS_RSH|' +
  'MAKEFLAGS|MFLAGS|NPM_CONFIG_\\w+|npm_config_\\w+|PIP_\\w+)$|(?:_COMMAND|_CMD|_PAGER|_EDITOR|_PROGRAM|_PROG|_RSH|_ASKPASS|_OPTS|_OPTIONS|_HOOK|_CONFIG)$')
// git's variables that only read or format are left alone.
const GIT_HARMLESS = /^GIT_(?:AUTHOR|COMMITTER)_(?:NAME|EMAIL|DATE)$|^GIT_(?:TERMINAL_PROMPT|FLUSH|OPTIONAL_LOCKS|PAGER_IN_USE)$/

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/

/** What setting variable `name` does to the commands that see it; undefined when nothing that matters. */
export function variableVerdict (name: string): Verdict | undefined {
  if (PRIVILEGED.test(name)) return verdict(P, `setting ${name} changes which code runs (loader, search path or start-up files)`)
  if (RUNS.test(name) && !GIT_HARMLESS.test(name)) return verdict(U, `setting ${name} can name a program to run or a file to write`)
  return undefined
}

/** The verdict of the first assignment (`NAME=value`, `NAME+=value`, `NAME[i]=value`) that matters. */
export function assignmentsVerdict (assignments: readonly string[]): Verdict | undefined {
  for (const assignment of assignments) {
    const name = NAME.exec(assignment)?.[0]
    const found = name === undefined ? undefined : variableVerdict(name)
    if (found !== undefined) return found
  }
  return undefined
}

/** Builtins that set variables named in their operands: `export PATH=…`, `read PATH`, `printf -v PATH`. */
export function assignedByBuiltin (name: string, args: readonly string[]): Verdict | undefined {
  switch (name) {
    case 'export': case 'declare': case 'typeset': case 'local': case 'readonly':
      return assignmentsVerdict(args.filter((w) => !w.startsWith('-') && w.includes('=')))
    case 'read': case 'getopts':
      return assignmentsVerdict(args.filter((w) => !w.startsWith('-')))
    case 'printf': {
      const at = args.findIndex((w) => w === '-v' || (w.startsWith('-v') && w.length > 2))
      if (at === -1) return undefined
      return assignmentsVerdict([args[at] === '-v' ? args[at + 1] ?? '' : args[at].slice(2)])
    }
    case 'hash':
      return args.some((w) => /^-[A-Za-z]*p/.test(w)) ? verdict(P, 'hash -p points a command name at another program') : undefined
  }
  return undefined
}
