/**
 * Tools whose subcommand decides what they do: `git log` reads, `git push --force` destroys
 * history. A subcommand missing from a tool's table is `unknown`.
 */
import { applyRule, D, DN, N, NW, P, R, U, verdict, W, withClasses, type CommandClass, type Outcome, type Rule } from './classes.js'
import { GIT_READS, gitGlobal } from './git-shapes.js'
import { hasOption, operands, scanOptions, type OptionSpec } from './options.js'

type Subcommands = Record<string, Rule>

/** A rule that picks by the first operand past the tool's global options; `always` is added to every outcome. */
function bySubcommand (subs: Subcommands, spec: OptionSpec = {}, always: readonly CommandClass[] = [], bare: Rule = R): Rule {
  return (args) => {
    const at = scanOptions(args, 0, spec).next
    const rule = at >= args.length ? bare : Object.hasOwn(subs, args[at]) ? subs[args[at]] : U
    return withClasses(applyRule(rule, args.slice(at + 1)), always)
  }
}

/** Classes by the first argument, for subcommands of subcommands. */
const verb = (by: Record<string, readonly CommandClass[]>, otherwise: readonly CommandClass[]): Rule =>
  (args) => args.length > 0 && Object.hasOwn(by, args[0]) ? by[args[0]] : otherwise
const names = (list: string, rule: Rule): Subcommands => Object.fromEntries(list.split(' ').map((n) => [n, rule]))
const has = (args: string[], ...options: string[]): boolean => hasOption(args, 0, options)
const first = (args: string[]): string | undefined => operands(args, 0)[0]
/** terraform spells long options with one dash: `-destroy`, `-check`. */
const tfFlag = (args: string[], name: string): boolean => args.some((w) => w.replace(/^--?/, '').split('=')[0] === name && w.startsWith('-'))

const gitPush: Rule = (args) => {
  const force = has(args, 'f', 'force', 'force-with-lease', 'force-if-includes', 'mirror', 'd', 'delete', 'prune') ||
    args.some((w) => w.startsWith('--force-with-lease='))
  // `+main` force-pushes one ref; `:main` deletes it on the remote.
  const refspecs = operands(args, 0, { short: 'o', long: ['repo', 'push-option', 'receive-pack', 'exec'] }).slice(1)
  return force || refspecs.some((r) => r.startsWith('+') || r.startsWith(':')) ? DN : NW
}

const gitBranch: Rule = (args) => {
  if (has(args, 'D') || (has(args, 'd', 'delete') && has(args, 'f', 'force'))) return D
  if (has(args, 'l', 'list')) return R
  const changes = has(args, 'd', 'delete', 'm', 'M', 'c', 'C', 'move', 'copy', 'u', 'set-upstream-to', 'unset-upstream', 'edit-description', 'f', 'force')
  return changes || operands(args, 0).length > 0 ? W : R
}

const gitConfig: Rule = (args) => {
  if (has(args, 'unset', 'unset-all', 'add', 'replace-all', 'edit', 'e', 'rename-section', 'remove-section')) return W
  if (has(args, 'get', 'get-all', 'get-regexp', 'list', 'l')) return R
  return operands(args, 0, { short: 'f', long: ['file', 'type', 'default', 'blob'] }).length >= 2 ? W : R
}

/** `git checkout -- .`, `git checkout -f`, `git restore .`: uncommitted work discarded. */
const discards = (force: string[]): Rule => (args) => {
  if (hasOption(args, 0, force)) return verdict(D, 'discards uncommitted changes')
  const paths = args.includes('--') ? args.slice(args.indexOf('--') + 1) : []
  return paths.length > 0 ? verdict(D, 'overwrites files with their committed version, discarding changes') : W
}

const gitRestore: Rule = (args) => {
  const staged = hasOption(args, 0, ['S', 'staged'])
  const worktree = hasOption(args, 0, ['W', 'worktree'])
  return staged && !worktree ? W : verdict(D, 'git restore discards uncommitted changes in the working tree')
}

const GIT: Subcommands = {
  ...GIT_READS,
  ...names('add commit merge rebase cherry-pick revert mv rm init am apply notes', W),
  checkout: (a) => a.length > 0 && (a[0] === '.' || (a.length === 1 && a[0] === '--')) ? verdict(D, 'discards uncommitted changes') : applyRule(discards(['f', 'force']), a),
  switch: discards(['f', 'force', 'discard-changes']),
  restore: gitRestore,
  worktree: (a) => a[0] === 'list' ? R : a[0] === 'remove' && hasOption(a, 1, ['f', 'force']) ? D : W,
  gc: (a) => a.some((w) => /^--prune=(now|all)/.test(w)) ? D : W,
  'filter-branch': verdict(D, 'git filter-branch rewrites history'),
  'filter-repo': verdict(D, 'git filter-repo rewrites history'),
  'update-ref': (a) => hasOption(a, 0, ['d']) ? D : W,
  reflog: (a) => ['expire', 'delete', 'drop'].includes(a[0]) ? D : applyRule(GIT_READS.log, a[0] === 'show' ? a.slice(1) : a),
  clone: NW,
  pull: NW,
  fetch: N,
  'ls-remote': N,
  push: gitPush,
  branch: gitBranch,
  config: gitConfig,
  tag: (a) => has(a, 'd', 'delete') ? D : has(a, 'l', 'list', 'n') || first(a) === undefined ? R : W,
  submodule: (a) => a[0] === 'deinit' && has(a, 'f', 'force') ? D : a[0] === 'status' || a[0] === undefined ? R : NW,
  stash: verb({ list: R, show: R, drop: D, clear: D }, W),
  reset: (a) => has(a, 'hard') ? D : W,
  clean: (a) => has(a, 'f', 'force') ? D : W,
  remote: (a) => a[0] === undefined || a[0].startsWith('-') || a[0] === 'show' || a[0] === 'get-url' ? R : a[0] === 'update' ? N : W
}

const KUBECTL: Subcommands = {
  ...names('get describe logs top explain api-resources api-versions version cluster-info diff events wait auth', R),
  ...names('apply create patch scale edit label annotate set replace autoscale expose run cp taint cordon uncordon certificate', W),
  ...names('delete drain', D),
  config: (a) => ['view', 'get-contexts', 'current-context', 'get-clusters', 'get-users'].includes(a[0]) ? R : W,
  rollout: (a) => a[0] === 'status' || a[0] === 'history' ? R : W
}

/** terraform plan runs the providers and any `external` data source the configuration names. */
const RUNS_PROVIDERS: Outcome = verdict(['network', 'unknown'], 'terraform runs the providers (and external programs) the configuration names')

const TERRAFORM: Subcommands = {
  ...names('show validate output version providers graph', R),
  plan: (a) => a.some((w) => /^-?-out(=|$)/.test(w)) ? withClasses(RUNS_PROVIDERS, W) : RUNS_PROVIDERS,
  console: RUNS_PROVIDERS,
  ...names('import refresh taint untaint force-unlock', W),
  fmt: (a) => tfFlag(a, 'check') ? R : W,
  init: NW,
  login: N,
  apply: (a) => tfFlag(a, 'destroy') ? D : W,
  destroy: D,
  state: verb({ list: R, show: R, pull: R, rm: D }, W),
  workspace: verb({ list: R, show: R, delete: D }, W)
}

/** `docker container rm`, `docker volume prune`…: a management command and its verb. */
const dockerObject = (reads: string, extra: Subcommands = {}): Rule =>
  bySubcommand({ ...names(reads, R), ...names('rm prune kill', D), ...extra }, {}, [], U)

const DOCKER: Subcommands = {
  ...names('ps images logs inspect version info stats top history diff port events', R),
  ...names('build run create start restart stop exec cp commit tag load import save login logout rename update pause unpause attach', W),
  ...names('rm rmi kill', D),
  ...names('pull push', NW),
  search: N,
  container: dockerObject('ls list ps inspect logs top stats port diff', names('create run start restart stop exec cp commit rename update pause unpause attach', W)),
  image: dockerObject('ls list inspect history', { ...names('pull push', NW), ...names('build tag load import save', W) }),
  volume: dockerObject('ls list inspect', { create: W }),
  network: dockerObject('ls list inspect', names('create connect disconnect', W)),
  system: dockerObject('df info events'),
  builder: dockerObject('ls inspect', { build: W }),
  compose: dockerObject('ps logs config ls top images version', { down: D, ...names('pull push', NW), ...names('up run start restart stop build create exec', W) })
}

const HELM: Subcommands = {
  ...names('list ls status get show template lint search history version env verify', R),
  ...names('install upgrade rollback pull push package dependency create', W),
  ...names('uninstall delete del un', D),
  repo: (a) => a[0] === 'list' || a[0] === 'ls' ? R : W
}

const packages = (install: string, remove: string, read: string, extra: Subcommands = {}): Subcommands =>
  ({ ...names(install, NW), ...names(remove, W), ...names(read, R), ...extra })

const NPM = packages('install i ci add update up upgrade link dedupe publish unpublish', 'uninstall remove rm un r unlink prune', 'ls list help whoami', {
  config: verb({ get: R, list: R, ls: R }, W),
  ...names('view info show outdated search ping', N),
  audit: (a) => a[0] === 'fix' ? NW : N,
  version: W
})

const cloud: Rule = (args) =>
  args.some((w) => /^(rm|rb|delete|remove|destroy|purge|terminate|(delete|terminate|remove)-.+)$/.test(w)) ? DN : N

/** Options that point a client at a configuration that can name programs to run, or act as someone else. */
function clientOptions (tool: string, rule: Rule, config: string[], impersonate: string[] = []): Rule {
  return (args) => {
    const set = args.find((w) => config.some((c) => w === c || w.startsWith(`${c}=`)))
    if (set !== undefined) return verdict(U, `${tool} ${set.split('=')[0]} reads a configuration that can name programs to run`)
    const as = args.find((w) => impersonate.some((c) => w === c || w.startsWith(`${c}=`)))
    if (as !== undefined) return verdict(P, `${tool} ${as.split('=')[0]} acts as someone else`)
    return applyRule(rule, args)
  }
}

const GIT_GLOBAL: OptionSpec = { short: 'Cc', long: ['git-dir', 'work-tree', 'namespace', 'super-prefix', 'config-env', 'exec-path', 'list-cmds', 'attr-source'] }
const gitRule = bySubcommand(GIT, GIT_GLOBAL)

export const TOOLS: Record<string, Rule> = {
  git: (args) => gitGlobal(scanOptions(args, 0, GIT_GLOBAL)) ?? applyRule(gitRule, args),
  kubectl: clientOptions('kubectl', bySubcommand(KUBECTL, { short: 'ns', long: ['namespace', 'context', 'cluster', 'kubeconfig', 'user', 'server', 'token', 'as', 'as-group', 'request-timeout'] }, N),
    ['--kubeconfig', '--exec-command'], ['--as', '--as-group', '--as-uid']),
  terraform: bySubcommand(TERRAFORM),
  docker: clientOptions('docker', bySubcommand(DOCKER, { short: 'Hc', long: ['host', 'context', 'config', 'log-level'] }), ['--config']),
  podman: bySubcommand(DOCKER, { long: ['url', 'connection', 'root', 'runroot'] }),
  helm: clientOptions('helm', bySubcommand(HELM, { short: 'n', long: ['namespace', 'kube-context', 'kubeconfig'] }, N), ['--kubeconfig', '--post-renderer']),
  npm: bySubcommand(NPM),
  pnpm: bySubcommand(packages('install i add update up', 'remove rm uninstall', 'ls list why'), {}, [], NW),
  yarn: bySubcommand(packages('install add upgrade up', 'remove', 'list info why'), {}, [], NW),
  pip: bySubcommand(packages('install download', 'uninstall', 'list show freeze check help')),
  pip3: bySubcommand(packages('install download', 'uninstall', 'list show freeze check help')),
  apt: bySubcommand(packages('install reinstall upgrade full-upgrade dist-upgrade update', 'remove purge autoremove', 'list search show policy')),
  'apt-get': bySubcommand(packages('install reinstall upgrade dist-upgrade update', 'remove purge autoremove', 'check')),
  yum: bySubcommand(packages('install reinstall upgrade update', 'remove erase autoremove', 'list info search')),
  dnf: bySubcommand(packages('install reinstall upgrade update', 'remove erase autoremove', 'list info search')),
  apk: bySubcommand(packages('add upgrade update', 'del', 'info search list')),
  brew: bySubcommand(packages('install reinstall upgrade update', 'uninstall remove rm', 'list info search')),
  'apt-cache': R,
  aws: cloud,
  gcloud: cloud,
  az: cloud,
  gsutil: cloud
}
