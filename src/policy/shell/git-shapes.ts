/**
 * git's reading subcommands and the argument shapes that keep them reading. `git -c`,
 * `--config-env` and `--exec-path` change which programs git runs (core.pager, core.fsmonitor,
 * diff.external, core.sshCommand…); `--output` writes a file; `git grep -O` runs a pager.
 */
import { P, U, verdict, W, type Rule, type Verdict } from './classes.js'
import type { ScannedOptions } from './options.js'
import { checkShape, shape, type ShapeSpec } from './shapes.js'

/** The verdict on git's global options, or undefined when they only read. */
export function gitGlobal (global: ScannedOptions): Verdict | undefined {
  if (global.flags.has('c')) return verdict(U, 'git -c overrides configuration, which can name programs to run (core.pager, core.fsmonitor, diff.external…)')
  if (global.flags.has('config-env')) return verdict(U, 'git --config-env overrides configuration, which can name programs to run')
  if (global.values.has('exec-path')) return verdict(P, 'git --exec-path runs git\'s programs from another directory')
  return undefined
}

const OUTPUT: Record<string, Verdict> = { '--output': verdict(W, 'git --output writes its output to a file') }

const DIFF_LONG = `stat? shortstat numstat dirstat? dirstat-by-file? summary patch no-patch name-only name-status raw full-index binary
  cached staged merge-base no-index abbrev? no-abbrev color? no-color color-words? color-moved? no-color-moved word-diff? word-diff-regex=
  ignore-all-space ignore-space-change ignore-blank-lines ignore-space-at-eol ignore-cr-at-eol ignore-matching-lines= minimal patience
  histogram diff-algorithm= anchored= find-renames? find-copies? find-copies-harder no-renames check exit-code quiet ignore-submodules?
  submodule? text no-ext-diff ext-diff no-textconv textconv relative? no-relative no-prefix src-prefix= dst-prefix= default-prefix
  line-prefix= unified= stat-width= stat-name-width= stat-count= stat-graph-width= function-context inter-hunk-context= diff-filter= irreversible-delete
  break-rewrites? ita-invisible-in-index ita-visible-in-index compact-indent-heuristic indent-heuristic no-indent-heuristic output-indicator-new=
  output-indicator-old= output-indicator-context= pickaxe-all pickaxe-regex rotate-to= skip-to= null z`
const LOG_LONG = `${DIFF_LONG} oneline graph decorate? no-decorate decorate-refs= decorate-refs-exclude= all branches? tags? remotes? glob= exclude=
  abbrev-commit no-abbrev-commit reverse no-merges merges first-parent left-right cherry-pick cherry-mark cherry left-only right-only
  boundary follow full-diff date-order author-date-order topo-order relative-date root parents children walk-reflogs source use-mailmap
  mailmap show-signature pretty? format= date= since= after= until= before= author= committer= grep= all-match invert-grep
  regexp-ignore-case basic-regexp extended-regexp fixed-strings perl-regexp max-count= skip= max-parents= min-parents= no-min-parents
  no-max-parents no-walk? full-history simplify-by-decoration simplify-merges ancestry-path? show-pulls dense sparse remerge-diff? cc
  combined-all-paths diff-merges= notes? no-notes show-notes? show-notes-by-default log-size encoding= expand-tabs? no-expand-tabs
  since-as-filter= count bisect not reflog single-worktree clear-decorations show-linear-break? first-parent-only in-commit-order
  stdin alternate-refs exclude-hidden= show-origin`
const DIFF_SHORT = 'pusqzwbRiEFPtvcmrNaWDM?C?B?l:U:O:S:G:X?I:'

const shaped = (name: string, spec: ShapeSpec): Rule => {
  const compiled = shape(`git ${name}`, spec)
  return (args) => checkShape(compiled, args)
}

const log = shaped('log', { short: `${DIFF_SHORT}n:L:g`, long: LOG_LONG, numeric: true, bad: OUTPUT })
const diff = shaped('diff', { short: DIFF_SHORT, long: DIFF_LONG, bad: OUTPUT })
/** Plumbing and lookups: nothing they take runs a program or writes a file, but --output where it exists. */
const anyBut = (name: string, bad: Record<string, Verdict> = OUTPUT): Rule => shaped(name, { any: true, bad })

export const GIT_READS: Record<string, Rule> = {
  log,
  show: log,
  whatchanged: log,
  shortlog: shaped('shortlog', { short: `${DIFF_SHORT}nsecw?`, long: `${LOG_LONG} numbered summary email group= committer format? width?`, numeric: true, bad: OUTPUT }),
  diff,
  status: shaped('status', {
    short: 'sbvzu?M?',
    long: `short branch show-stash porcelain? long verbose untracked-files? ignore-submodules? ignored? no-ahead-behind ahead-behind
      renames no-renames find-renames? column? no-column null`
  }),
  grep: anyBut('grep', {
    ...OUTPUT,
    '-O': verdict(U, 'git grep -O opens the files in a pager of the caller\'s choosing'),
    '--open-files-in-pager': verdict(U, 'git grep --open-files-in-pager runs a program')
  }),
  blame: anyBut('blame'),
  help: anyBut('help', { '-w': verdict(U, 'git help -w runs a browser'), '--web': verdict(U, 'git help --web runs a browser') }),
  ...Object.fromEntries(`rev-parse describe ls-files ls-tree cat-file show-ref for-each-ref merge-base rev-list version name-rev
    check-ignore count-objects var check-attr check-ref-format show-branch cherry`.split(/\s+/).map((n) => [n, anyBut(n)]))
}
