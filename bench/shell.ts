/* eslint-disable no-template-curly-in-string -- shell source is full of ${VAR}, meant literally */
/**
 * The shell gate's analysis, timed: typical commands (µs each, warm), and adversarial ones at
 * the size limit (ms each, the worst of several runs) — nothing may hold the event loop long.
 * Alone: `npm run build && node dist/bench/shell.js`.
 */
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { analyzeCommand, DEFAULT_PROTECTED_PATHS, MAX_COMMAND_LENGTH } from '../src/policy/shell/index.js'

const OPTIONS = { protectedPaths: [...DEFAULT_PROTECTED_PATHS, '/etc/**'] }

export const TYPICAL = [
  'ls',
  'df -h /srv',
  'git status --short',
  'git log --oneline -n 20 -- src',
  'cd repo && git push --force origin main | tee log.txt',
  "sudo bash -c 'for f in *.log; do gzip \"$f\"; done' && rm -rf \"$TMP/build\"",
  "cat > notes.md <<'EOF'\n# Notes\nline $(not run)\nEOF",
  'case "$1" in start) systemctl start x ;; stop) systemctl stop x ;; *) echo usage ;; esac',
  "LD_PRELOAD=/tmp/x.so git -c core.pager='sh -c id' log --output=/etc/passwd",
  "sed -n '1,/^$/p; s/a/b/g' f | sort | uniq -c"
]

const fill = (unit: string, length = MAX_COMMAND_LENGTH - 64): string => unit.repeat(Math.ceil(length / unit.length)).slice(0, length)

export const ADVERSARIAL: Array<[label: string, command: string]> = [
  ['16 KiB unquoted here-document of substitutions', `cat <<EOF\n${fill('$(a) `b` ${c:-d} ')}\nEOF`],
  ['16 KiB quoted here-document', `cat <<'EOF'\n${fill('$(rm -rf /) ')}\nEOF`],
  ['a thousand here-documents on one line', `${'cat <<E;'.repeat(600)}\n${'x\nE\n'.repeat(600)}`],
  ['case nested 8 deep', `${'case x in a) '.repeat(8)}ls${' ;; esac'.repeat(8)}`],
  ['a thousand case clauses', `case x in ${fill('a|b) ls ;; ', MAX_COMMAND_LENGTH - 40)} esac`],
  ['sed script of 2,000 commands', `sed -n '${fill('s/a/b/g;p;')}' f`],
  ['1,000 environment assignments', `${fill('A=1 ', MAX_COMMAND_LENGTH - 10)} ls`],
  ['git with 2,000 options', `git log ${fill('--oneline ')}`],
  ['500 function definitions and calls', fill('f(){ f|f& };f;')],
  ['process substitutions 8 deep', `${'cat <('.repeat(8)}ls${')'.repeat(8)}`],
  ['2,000 chmod targets under /etc', `chmod -R 777 ${fill('/etc/x ')}`],
  ['1,000 pipes of readers', fill('cat f | ') + 'cat'],
  // The most the budgets let through (src/policy/shell/braces.ts): as many commands, as many words.
  ['128 commands, the most a line may hold', `${'chmod -R 777 /etc/x && '.repeat(127)}ls`],
  ['509 chmod targets under /etc, the most words a command may have', `chmod -R 777 ${'/etc/abcdefghij/klmnopqrst/uvwxyz '.repeat(509)}`],
  ['128 pipelines with redirections to /etc', `${'cat < /etc/a > /etc/b | '.repeat(127)}cat`]
]

function typicalMicros (command: string, iterations = 20_000): number {
  for (let i = 0; i < 2_000; i++) analyzeCommand(command, OPTIONS)
  const started = performance.now()
  for (let i = 0; i < iterations; i++) analyzeCommand(command, OPTIONS)
  return (performance.now() - started) * 1000 / iterations
}

function worstMillis (command: string, runs = 5): number {
  let worst = 0
  for (let i = 0; i < runs; i++) {
    const started = performance.now()
    analyzeCommand(command, OPTIONS)
    worst = Math.max(worst, performance.now() - started)
  }
  return worst
}

/** Prints the figures; returns the worst adversarial time in ms. */
export function benchShell (print: (line: string) => void): number {
  print('Shell gate analysis: analyzeCommand, warm, built code')
  for (const command of TYPICAL) print(`  ${typicalMicros(command).toFixed(1).padStart(7)} µs  ${JSON.stringify(command).slice(0, 90)}`)
  let worst = 0
  for (const [label, command] of ADVERSARIAL) {
    const ms = worstMillis(command)
    worst = Math.max(worst, ms)
    const parsed = analyzeCommand(command, OPTIONS)
    print(`  ${ms.toFixed(2).padStart(7)} ms  ${label} (${command.length} chars, ${parsed.parsed ? `${parsed.commands.length} commands` : `unparseable: ${parsed.error}`})`)
  }
  return worst
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) benchShell((line) => { console.log(line) })
