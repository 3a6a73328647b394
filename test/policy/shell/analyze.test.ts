/* eslint-disable no-template-curly-in-string -- shell source is full of ${VAR}, meant literally */
import t from 'tap'
import {
  COMMAND_CLASSES,
  DEFAULT_PROTECTED_PATHS,
  MAX_COMMAND_LENGTH,
  analyzeCommand
} from '../../../src/policy/shell/index.js'
import { analyze, checkTable, DF, ETC, type Row } from '../../fixtures/shell-table.js'

const TABLE: Row[] = [
  // Targets, protected and not
  ['rm -rf /tmp/build', 'pass', { classes: DF }],
  ['rm -rf /', 'deny', { reason: 'rm -rf /', target: '/', classes: DF }],
  ['rm -rf /*', 'deny', { target: '/*' }],
  ['rm -rf ~', 'deny', { target: '~' }],
  ['rm -rf ~/', 'deny', { target: '~/' }],
  ['rm -rf $HOME', 'deny', { target: '$HOME' }],
  ['rm -rf "${HOME}"', 'deny', { target: '"${HOME}"' }],
  ['rm -rf "$HOME/"', 'deny', { target: '"$HOME/"' }],
  ['rm -rf .', 'deny', { target: '.' }],
  ['rm -rf ./', 'deny', { target: './' }],
  ['rm -rf ..', 'deny', { target: '..' }],
  ['rm -rf *', 'deny', { target: '*' }],
  ['rm -rf ./*', 'deny', { target: './*' }],
  ['rm -rf /tmp/../', 'deny', { target: '/tmp/../' }],
  ['rm -rf //', 'deny', { target: '//' }],
  ['rm -rf /./.', 'deny', { target: '/./.' }],
  ['rm -rf ../..', 'deny', { target: '../..' }],
  ['rm -rf ~/..', 'deny', { target: '~/..' }],
  ['rm -rf "$DIR/"', 'deny', { reason: 'rm -rf "$DIR/"', target: '"$DIR/"' }],
  ['rm -rf $A/*', 'deny', { target: '$A/*' }],
  ['rm -rf ${BUILD}/$(ls)/', 'deny', { target: '${BUILD}/$(ls)/' }],
  ['rm -rf "$DIR"', 'pass'],
  ['rm -rf /{tmp,}', 'deny', { target: '/{tmp,}' }],
  ['{rm,-rf,/}', 'deny', { reason: '{rm,-rf,/}' }],
  ['rm -rf /tmp/{a,b} "/{tmp,}"', 'pass'],
  ['rm -rf `date`/', 'deny', { target: '`date`/' }],
  ['rm -rf \\${x/', 'pass'],
  ['rm -rf "$DIR/cache"', 'pass'],
  ['rm -rf ~/projects/old $HOME/.cache', 'pass'],
  ['rm -rf node_modules ./dist build/', 'pass'],
  ['rm -rf /tmp', 'pass'],
  ['rm -rf /tmp/* ~/.cache/*', 'pass'],
  ['rm -rf ~+', 'deny', { target: '~+' }],
  ['rm -rf "$(pwd)"', 'deny', { target: '"$(pwd)"', classes: ['destructive', 'read_only'] }],
  ['rm -rf `pwd`/', 'deny', { target: '`pwd`/' }],
  ['rm -rf $PWD', 'deny', { target: '$PWD' }],
  ['rm -rf "${PWD}/"*', 'deny', { target: '"${PWD}/"*' }],
  ['rm -rf /srv/app', 'deny', { cwd: '/srv/app', target: '/srv/app' }],
  ['rm -rf /srv/app/', 'deny', { cwd: '/srv/app' }],
  ['rm -rf ../app', 'deny', { cwd: '/srv/app', target: '../app' }],
  ['rm -rf /srv', 'deny', { cwd: '/srv/app', target: '/srv' }],
  ['rm -rf /srv/app/build build', 'pass', { cwd: '/srv/app' }],
  ['rm -rf /srv/other', 'pass', { cwd: '/srv/app' }],
  ['rm -rf /etc/nginx', 'deny', { protect: ETC, target: '/etc/nginx' }],
  ['rm -rf /etc', 'deny', { protect: ETC }],
  ['rm -rf /e?c/', 'deny', { protect: ETC }],
  ['rm -rf /etcetera', 'pass', { protect: ETC }],
  ['rm -rf /[e]tc', 'deny', { protect: ETC }],
  ['rm -rf /[a-f]t[!x]/', 'deny', { protect: ETC }],
  ['rm -rf /[!e]tc /[^e]tc /[f-z]tc /[etc', 'pass', { protect: ETC }],
  ['rm -rf /srv', 'deny', { protect: ['/srv/data'] }],
  ['rm -rf /srv/data/old', 'pass', { protect: ['/srv/data'] }],
  ['rm -rf /', 'pass', { protect: [] }],
  ['rm -rf .', 'deny', { protect: [] }],
  // Parameter expansion: every reading (value unknown → a name or empty; the default word)
  ['rm -rf ${X:-/}', 'deny', { reason: 'rm -rf ${X:-/}', target: '${X:-/}', classes: DF }],
  ['rm -rf "${X-/}"', 'deny', { target: '"${X-/}"' }],
  ['rm -rf ${X:=/}', 'deny', { target: '${X:=/}' }],
  ['rm -rf ${X=/}', 'deny', { target: '${X=/}' }],
  ['rm -rf ${X:+/}', 'deny', { target: '${X:+/}' }],
  ['rm -rf ${X:+build}/', 'deny', { target: '${X:+build}/' }],
  ['rm -rf ${X:+/tmp}', 'pass'],
  ['rm -rf ${X:-/tmp/x} /tmp/${X:-a}', 'pass'],
  ['rm -rf /tmp/${X:-..}', 'deny', { target: '/tmp/${X:-..}' }],
  ['rm -rf ${X:-${Y:-/}}', 'deny'],
  ["rm -rf ${X:-'/'}", 'deny'],
  ['rm -rf "${X:-"/"}"', 'deny'],
  ['rm -rf ${X:-\\/}', 'deny'],
  ['rm -rf ${X:-~}', 'deny'],
  ['rm -rf ${X:-$HOME}', 'deny'],
  ['rm -rf ${X:-"$HOME"}', 'deny'],
  ['rm -rf ${X:-/}x ${X:-~}x', 'pass'],
  ['rm -rf "${HOME:?}"', 'deny', { target: '"${HOME:?}"' }],
  ['rm -rf ${HOME:?msg}', 'deny'],
  ['rm -rf ${HOME:-x}', 'deny'],
  ['rm -rf ${HOME:-/tmp/x}/', 'deny'],
  ['rm -rf ${HOME%/*}', 'deny'],
  ['rm -rf "${PWD:?}"', 'deny', { target: '"${PWD:?}"' }],
  ['rm -rf "${PWD:-/tmp}/"*', 'deny'],
  ['rm -rf "${DIR:?}/" "${DIR:?}/build"', 'pass'],
  ['rm -rf "${DIR?}/"', 'deny'],
  ['rm -rf ${#X}/ ${!X}/x ${X%/}', 'pass'],
  ["rm -rf '$'/ '`'/ \"${ X}/x\"", 'pass'],
  ['rm -rf "${ X}/"', 'deny'],
  ['rm -rf ${X##*/}/', 'deny'],
  ['rm -rf ${A[0]:-/}', 'deny'],
  ['rm -rf "${X:-$(echo })}"', 'pass'],
  ["rm -rf '" + '${a:-'.repeat(8) + 'x' + '}'.repeat(8) + "'", 'pass'],
  ["rm -rf '" + '${a:-'.repeat(9) + 'x' + '}'.repeat(9) + "'", 'deny'],
  ['rm -rf "$A$B$C$D$E$F$G$H"', 'pass'],
  ['rm -rf "$A$B$C$D$E$F$G$H$I"', 'deny', { target: '"$A$B$C$D$E$F$G$H$I"' }],
  ['rm -rf $WORKSPACE', 'deny', { protect: ['${WORKSPACE}'] }],
  ['rm -rf ${WORKSPACE}/', 'deny', { protect: ['$WORKSPACE'] }],
  ['rm -rf ${WORKSPACE:-/tmp/w}/x', 'pass', { protect: ['$WORKSPACE'] }],
  // Every spelling of the flags
  ['rm -fr /', 'deny'],
  ['rm -Rf /', 'deny'],
  ['rm -r -f /', 'deny'],
  ['rm -vrf /', 'deny'],
  ['rm --recursive --force /', 'deny'],
  ['rm -r --force /', 'deny'],
  ['rm --force -R /', 'deny'],
  ['rm --rec --forc /', 'deny'],
  ['rm / -rf', 'deny'],
  ['rm -i -rf /', 'deny'],
  ['rm -r -f -- /', 'deny', { target: '/' }],
  ['rm -rf -- -x', 'pass'],
  ['rm -- -rf /', 'pass'],
  ['rm -r /', 'pass', { classes: DF }],
  ['rm -f /', 'pass'],
  ['rm -rf', 'pass'],
  ['rm -rf --no-preserve-root /tmp/x', 'deny', { target: '/tmp/x' }],
  ['rm -rf --no-preserve-root', 'deny', { target: '--no-preserve-root' }],
  ['rm -rf --preserve-root /', 'deny'],
  // Separators and structure
  ['echo ok; rm -rf /', 'deny'],
  ['make && rm -rf ~', 'deny', { classes: ['destructive', 'unknown'] }],
  ['test -d x || rm -rf .', 'deny'],
  ['cat list | rm -rf /', 'deny'],
  ['sleep 1 & rm -rf /', 'deny'],
  ['echo start\nrm -rf /', 'deny'],
  ['(cd /tmp && rm -rf *)', 'deny'],
  ['{ rm -rf /; }', 'deny'],
  ['echo $(rm -rf /)', 'deny', { classes: ['destructive', 'read_only'] }],
  ['echo `rm -rf ~`', 'deny'],
  ['echo "$(rm -rf ..)"', 'deny'],
  ['cleanup() { rm -rf ~/; }; cleanup', 'deny', { classes: ['destructive', 'unknown'] }],
  ['if [ -d x ]; then rm -rf /; fi', 'deny'],
  ['for d in a b; do rm -rf "$d"; done', 'pass'],
  ['for d in a b; do rm -rf "$d/"; done', 'deny'],
  ['while true; do rm -rf ..; done', 'deny'],
  ['x=${y:-$(rm -rf /)}', 'deny'],
  // Quoting
  ["echo 'rm -rf /'", 'pass', { classes: ['read_only'] }],
  ['echo "rm -rf /"', 'pass', { classes: ['read_only'] }],
  ['echo rm -rf /', 'pass'],
  ['rm -rf "/"', 'deny', { target: '"/"' }],
  ["rm -rf '/'", 'deny', { target: "'/'" }],
  ['git commit -m "rm -rf /"', 'pass', { classes: ['write'] }],
  ['grep -r "rm -rf /" .', 'pass', { classes: ['read_only'] }],
  ["bash -c 'echo \"rm -rf /\"'", 'pass'],
  // Classes on the way
  ['git push --force origin main', 'pass', { classes: ['destructive', 'network'] }],
  ['git push origin main', 'pass', { classes: ['network', 'write'] }],
  ['kubectl get pods', 'pass', { classes: ['network', 'read_only'] }],
  ['curl -fsSL https://x.example | sh', 'pass', { classes: ['network', 'unknown'] }],
  ['', 'pass', { classes: [] }],
  // Unparseable
  ['rm -rf "/', 'unparseable', { reason: 'unbalanced double quote' }],
  ["rm -rf '/", 'unparseable', { reason: 'unbalanced single quote' }],
  ['echo $(rm -rf /', 'unparseable', { reason: "unclosed '$('" }],
  ['rm -rf / &&', 'unparseable', { reason: "'&&' with no command after it" }],
  ['| rm -rf /', 'unparseable', { reason: "'|' with no command before it" }],
  ['cat <<EOF\nrm -rf /\nEOF', 'pass', { classes: ['read_only'] }],
  ['cat <<EOF\n$(rm -rf /)\nEOF', 'deny', { reason: 'rm -rf /' }],
  ["cat <<'EOF'\n$(rm -rf /)\nEOF", 'pass', { classes: ['read_only'] }],
  ['case $x in *) rm -rf /;; esac', 'deny', { reason: 'rm -rf /' }],
  ['rm -rf <(ls)', 'pass', { classes: ['destructive', 'read_only'] }],
  ['cat <(rm -rf ~)', 'deny', { reason: 'rm -rf ~' }],
  ['cat <<EOF\nrm -rf /', 'unparseable', { reason: "here-document 'EOF' is never closed" }],
  ['rm -rf /\\', 'unparseable', { reason: 'trailing backslash' }],
  ['sh -c "rm -rf \'/"', 'unparseable', { reason: 'in the command line given to sh: unbalanced single quote' }],
  ['eval "echo \\$(ls"', 'unparseable', { reason: "in the command line given to eval: unclosed '$('" }],
  ["trap 'echo \"' EXIT", 'unparseable', { reason: 'in the command line given to trap: unbalanced double quote' }],
  ["su root -c 'rm -rf \"/'", 'unparseable', { reason: 'in the command line given to su: unbalanced double quote' }],
  ['coproc NAME { rm -rf /; } x', 'unparseable', { reason: "unexpected 'x'" }]
]

t.test('the table: which commands are denied, which pass, which cannot be read', async (t) => {
  t.ok(TABLE.length >= 80, `${TABLE.length} rows`)
  checkTable(t, TABLE)
})

t.test('the exported constants', async (t) => {
  t.same(COMMAND_CLASSES, ['read_only', 'write', 'destructive', 'network', 'privileged', 'unknown'])
  t.same(DEFAULT_PROTECTED_PATHS, ['/', '/*', '~', '~/', '$HOME', '${HOME}', '.', './', '..', '*'])
})

t.test('the whole analysis of a wrapped delete', async (t) => {
  t.same(analyze('cd /srv && FOO=1 sudo -u admin rm -rf / ~/x > log'), {
    parsed: true,
    commands: [
      { argv: ['cd', '/srv'], text: 'cd /srv', classes: ['read_only'] },
      { argv: ['rm', '-rf', '/', '~/x'], text: 'rm -rf / ~/x > log', classes: ['destructive', 'privileged', 'write'] }
    ],
    classes: ['destructive', 'privileged', 'read_only', 'write'],
    forcedDeletes: [{ segment: 'rm -rf / ~/x > log', target: '/' }]
  })
  t.same(analyze('rm -rf / ~ "$HOME" /tmp/x').forcedDeletes.map((d) => d.target), ['/', '~', '"$HOME"'], 'every protected target is reported')
  t.same(analyze('rm -rf /; sudo rm -rf .').forcedDeletes, [{ segment: 'rm -rf /', target: '/' }, { segment: 'rm -rf .', target: '.' }])
  t.same(analyze('   '), { parsed: true, commands: [], classes: [], forcedDeletes: [] })
  t.same(analyze('echo "unbalanced'), { parsed: false, error: 'unbalanced double quote', classes: ['unknown'], commands: [], forcedDeletes: [] })
})

t.test('a string run by a shell counts toward the nesting limit', async (t) => {
  const nest = (levels: number): string => {
    let command = 'rm -rf /'
    for (let i = 0; i < levels; i++) command = `eval ${JSON.stringify(command)}`
    return command
  }
  t.equal(analyze(nest(8)).forcedDeletes.length, 1)
  t.same(analyze(nest(9)), { parsed: false, error: 'in the command line given to eval: nesting deeper than 8 levels', classes: ['unknown'], commands: [], forcedDeletes: [] })
  t.equal(analyze('( ( ( ( ( ( ( ( bash -c "ls" ) ) ) ) ) ) ) )').parsed, false, 'a sh -c string inside eight subshells is one level too deep')
})

t.test('a relative working directory is ignored: only an absolute path can be compared', async (t) => {
  t.equal(analyze('rm -rf srv/app', { workingDirectory: 'srv/app' }).forcedDeletes.length, 0)
  t.equal(analyze('rm -rf .', { workingDirectory: 'srv/app' }).forcedDeletes.length, 1)
})

t.test('analysis stays fast at the size limit', async (t) => {
  const fill = (unit: string): string => unit.repeat(Math.ceil(MAX_COMMAND_LENGTH / unit.length)).slice(0, MAX_COMMAND_LENGTH - 20)
  const inputs = [
    'rm -rf /' + fill('*a') + 'b',
    'rm -rf ' + fill('/e*c/x* '),
    'rm -rf ' + fill('$A/$(b)/${c}/`d` '),
    'rm -rf ' + fill('../'),
    'bash -c "' + fill('rm -rf /x; ') + '"',
    fill('sudo ') + 'ls',
    'find . ' + fill('-exec rm {} ; '),
    'foo ' + fill('rm '),
    'foo ' + fill('rm -- '),
    'rm -rf ' + fill('$A'),
    'rm -rf ' + fill('${A:-/}'),
    'rm -rf ' + fill('${A:-${B:-$C}}/'),
    "rm -rf '" + fill('${') + "'",
    "rm -rf '" + '${a:-'.repeat(2700) + '/' + '}'.repeat(2700) + "'",
    'su ' + fill('-c x '),
    fill('coproc ') + 'ls',
    fill('rm -rf ' + '{a,b}'.repeat(10) + '; ')
  ]
  for (const source of inputs) {
    const started = performance.now()
    analyzeCommand(source, { protectedPaths: [...ETC, '/aaaaaaaaaaaaaaaaaaaaaaaaaaaaab/**'] })
    t.ok(performance.now() - started < 500, `${source.slice(0, 20)}… in under 500 ms`)
  }
})

t.test('brace expansion is bounded over the whole analysis, strings run by a shell included', async (t) => {
  const segment = 'rm -rf ' + '{a,b}'.repeat(8)
  const tooLarge = { parsed: false, error: 'brace expansion too large', classes: ['unknown'], commands: [], forcedDeletes: [] }
  const lines = (n: number, unit = segment): string => Array(n).fill(unit).join('; ')
  t.same(analyze(lines(Math.floor(MAX_COMMAND_LENGTH / (segment.length + 2)))), tooLarge, '16 KiB of eight-group words')
  t.equal(analyze(lines(16)).parsed, true, '4096 words in all')
  t.same(analyze(lines(17)), tooLarge, 'more')
  t.same(analyze(`${lines(8)}; bash -c "${lines(9)}"`), { ...tooLarge, error: 'in the command line given to bash: brace expansion too large' })
  t.equal(analyze(`${lines(8)}; bash -c "${lines(8)}"`).parsed, true)
  const long = 'echo ' + 'x'.repeat(110) + '{a,b}'.repeat(8)
  t.equal(analyze(lines(8, long)).parsed, true, '256 words of 118 characters, eight times')
  t.same(analyze(lines(9, long)), tooLarge, 'more than 256 KiB in all')
  t.same(analyze('echo {a}{b} {} x{,}').commands[0].argv, ['echo', '{a}{b}', '{}', 'x', 'x'], 'a word that expands to itself costs nothing')
})

t.test('argv[0] is the name the command runs; the text stays as written', async (t) => {
  t.same(analyze('/usr/bin/git push --force; \\rm -rf /tmp/x; $(which git) status; "/bin/ls" -l').commands.map((c) => [c.argv, c.text]), [
    [['git', 'push', '--force'], '/usr/bin/git push --force'],
    [['rm', '-rf', '/tmp/x'], '\\rm -rf /tmp/x'],
    [['which', 'git'], 'which git'],
    [['git', 'status'], '$(which git) status'],
    [['ls', '-l'], '"/bin/ls" -l']
  ])
  t.same(analyze('sudo -u app /usr/local/bin/kubectl delete ns x').commands[0].argv, ['kubectl', 'delete', 'ns', 'x'])
  t.same(analyze('> out').commands[0].argv, [], 'a bare redirect has no name')
})

t.test('a command line holds at most 128 simple commands, and a command at most 512 words: no line holds the event loop long', async (t) => {
  const unparseable = (error: string): unknown => ({ parsed: false, error, classes: ['unknown'], commands: [], forcedDeletes: [] })
  t.equal(analyze(Array(128).fill('ls').join('; ')).commands.length, 128)
  t.same(analyze(Array(129).fill('ls').join('; ')), unparseable('more than 128 commands in one command line'))
  t.same(analyze(`${Array(100).fill('ls').join(' | ')}; bash -c "${Array(29).fill('ls').join(';')}"`), unparseable('in the command line given to bash: more than 128 commands in one command line'), 'counted over the strings a shell runs too')
  t.same(analyze(`cat <<EOF\n${'$(id) '.repeat(128)}\nEOF`), unparseable('more than 128 commands in one command line'), 'and over substitutions in a here-document')
  t.equal(analyze(`chmod -R 777 ${'/etc/x '.repeat(509)}`).commands[0].argv.length, 512)
  t.same(analyze(`chmod -R 777 ${'/etc/x '.repeat(510)}`), unparseable('a command of more than 512 words'))
  t.same(analyze(`rm -rf ${'{a,b}'.repeat(9)}`), unparseable('a command of more than 512 words'), 'brace expansion counts')
})
