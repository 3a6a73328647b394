/**
 * The argument shapes of programs that read: for each, the options known only to read, and the
 * ones that run a program or write a file. A program whose every option only reads says so
 * (`any`); the others list what they take, and anything else is `unknown`.
 */
import { P, U, W, verdict, type Verdict } from './classes.js'
import { shape, type ShapeSpec } from './shapes.js'

const runs = (what: string): Verdict => verdict(U, what)
const writes = (what: string): Verdict => verdict(W, what)
const HARMLESS_FILES = new Set(['-', '/dev/stdout', '/dev/stderr', '/dev/null'])

/** Nothing these take runs a program or writes a file: every option only reads or formats. */
const READERS = `pwd whoami id uname printenv which whereis type groups who w last tty getent locale nproc lscpu lsblk lsof
  free uptime sleep yes seq basename dirname realpath readlink md5sum sha1sum sha256sum sha512sum cksum base64 od hexdump
  strings cut tr tac nl paste join column fold comm diff cmp stat du df ps wc jq zcat bzcat xzcat more top htop true false
  test [ [[ : cd pushd popd unset set shopt shift return exit wait umask ulimit jobs times let unalias env xargs time nice
  nohup timeout exec builtin command busybox stdbuf setsid ionice watch eval history trap alias export declare typeset
  local readonly read getopts hash printenv`

const SPECS: Record<string, ShapeSpec> = {
  echo: { any: true, posix: true },
  printf: { any: true, posix: true, short: 'v:' },
  ls: {
    short: 'aAbBcCdDfFgGhHiklLmnNopqQrRsStuUvxXZ1I:T:w:',
    long: `all almost-all author escape block-size= ignore-backups color? directory dired classify? file-type format= full-time
      group-directories-first no-group human-readable si dereference-command-line dereference-command-line-symlink-to-dir
      hide= hyperlink? indicator-style= inode ignore= kibibytes dereference numeric-uid-gid literal hide-control-chars
      show-control-chars quote-name quoting-style= reverse recursive size sort= time= time-style= tabsize= width= context zero help version`
  },
  cat: { short: 'AbeEnstTuv', long: 'show-all number-nonblank show-ends number squeeze-blank show-tabs show-nonprinting help version' },
  head: { short: 'c:n:qvz', numeric: true, long: 'bytes= lines= quiet silent verbose zero-terminated help version' },
  tail: {
    short: 'c:fFn:qs:vz',
    numeric: true,
    long: 'bytes= follow? lines= max-unchanged-stats= pid= quiet silent retry sleep-interval= verbose zero-terminated help version'
  },
  grep: { any: true, numeric: true, short: 'e:f:m:A:B:C:d:D:' },
  rg: {
    any: true,
    short: 'A:B:C:E:e:f:g:j:M:m:r:T:t:',
    bad: { '--pre': runs('rg --pre runs a program on every file it searches'), '--pre-glob': runs('rg --pre-glob runs a preprocessor') }
  },
  ag: { any: true, short: 'A:B:C:G:g:m:p:', bad: { '--pager': runs('ag --pager runs a program') } },
  ack: { any: true, short: 'A:B:C:m:', bad: { '--pager': runs('ack --pager runs a program'), '--output': runs('ack --output evaluates a Perl expression') } },
  uniq: { any: true, short: 'f:s:w:', operands: (ops) => ops.length > 1 && !HARMLESS_FILES.has(ops[1]) ? writes('uniq writes its second operand') : undefined },
  xxd: { any: true, short: 'c:g:l:o:s:n:', operands: (ops) => ops.length > 1 && !HARMLESS_FILES.has(ops[1]) ? writes('xxd writes its second operand') : undefined },
  file: { any: true, short: 'e:F:f:m:P:', bad: { '-C': writes('file -C writes a compiled magic file'), '--compile': writes('file --compile writes a compiled magic file') } },
  tree: { any: true, short: 'L:P:I:o:', bad: { '-o': writes('tree -o writes its listing to a file'), '--output': writes('tree --output writes a file') } },
  date: {
    any: true,
    short: 'd:f:r:I?',
    bad: { '-s': verdict(P, 'date -s sets the clock'), '--set': verdict(P, 'date --set sets the clock') },
    operands: (ops) => ops.some((o) => !o.startsWith('+')) ? verdict(P, 'date with an operand that is not a +FORMAT sets the clock') : undefined
  },
  man: {
    any: true,
    short: 'C:E:L:m:M:p:P:R:s:S:e:T?H?',
    bad: {
      '-P': runs('man -P runs a pager of the caller\'s choosing'),
      '--pager': runs('man --pager runs a program'),
      '-H': runs('man -H runs a browser'),
      '--html': runs('man --html runs a browser'),
      '-X': runs('man -X runs a display program'),
      '--gxditview': runs('man --gxditview runs a display program'),
      '-C': runs('man -C reads a configuration that names programs'),
      '--config-file': runs('man --config-file reads a configuration that names programs')
    }
  },
  less: {
    short: 'aABcCdeEfFgGiIJKLmMnNqQrRsSuUVwWX~b:h:j:p:P:t:T:x:y:z:#:',
    long: `quit-if-one-screen no-init RAW-CONTROL-CHARS raw-control-chars chop-long-lines LINE-NUMBERS line-numbers ignore-case
      IGNORE-CASE pattern= quit-at-eof QUIT-AT-EOF squeeze-blank-lines follow-name mouse wheel-lines= tabs= jump-target= shift=
      status-column no-lessopen help version`,
    bad: {
      '-o': writes('less -o copies its input to a file'),
      '-O': writes('less -O copies its input to a file'),
      '--log-file': writes('less --log-file writes a file'),
      '--LOG-FILE': writes('less --LOG-FILE writes a file'),
      '-k': runs('less -k reads key bindings, which can run commands'),
      '--lesskey-file': runs('less --lesskey-file reads key bindings, which can run commands'),
      '--lesskey-src': runs('less --lesskey-src reads key bindings, which can run commands')
    },
    operands: (ops) => ops.some((o) => o.startsWith('+')) ? runs('less runs the commands given with +, `!` among them') : undefined
  },
  journalctl: {
    any: true,
    short: 'b?D:F:g:I?n:o:p:S:t:T:u:U:M:',
    bad: Object.fromEntries(['vacuum-size', 'vacuum-time', 'vacuum-files', 'rotate', 'flush', 'sync', 'relinquish-var', 'smart-relinquish-var', 'setup-keys', 'update-catalog']
      .map((n) => [`--${n}`, writes(`journalctl --${n} changes the journal`)]))
  },
  dmesg: {
    any: true,
    short: 'f:F:l:n:s:',
    bad: Object.fromEntries([['-c', 'read-clear'], ['-C', 'clear'], ['-D', 'console-off'], ['-E', 'console-on'], ['-n', 'console-level']]
      .flatMap(([s, l]) => [[s, verdict(P, `dmesg ${s} changes the kernel log`)], [`--${l}`, verdict(P, `dmesg --${l} changes the kernel log`)]]))
  }
}
for (const name of ['egrep', 'fgrep', 'zgrep']) SPECS[name] = SPECS.grep
for (const name of READERS.split(/\s+/)) SPECS[name] ??= { any: true }

export const READ_SHAPES = new Map(Object.entries(SPECS).map(([name, spec]) => [name, shape(name, spec)]))

/** `sed`: the options that only read, and what its script does (`e`, `w`, `s///e`, `s///w`). */
export const SED_SHAPE = shape('sed', {
  short: 'nrEsuzl:e:f:',
  long: 'quiet silent regexp-extended separate unbuffered null-data posix debug sandbox line-length= expression= file= help version'
})
