/* eslint-disable no-template-curly-in-string -- shell source is full of ${VAR}, meant literally */
import t from 'tap'
import { MAX_COMMAND_LENGTH, parseShell, type SimpleCommand } from '../../../src/policy/shell/index.js'
import { ShellBudget } from '../../../src/policy/shell/braces.js'

function commands (source: string): SimpleCommand[] {
  const result = parseShell(source)
  if (!result.ok) throw new Error(`${source}: ${result.error}`)
  return result.commands
}
const argvs = (source: string): string[][] => commands(source).map((c) => c.argv)
const error = (source: string): string => {
  const result = parseShell(source)
  return result.ok ? 'parsed' : result.error
}

t.test('every simple command is found, whatever holds it', async (t) => {
  t.same(argvs('a 1 | b 2 && c || d; e & f\ng'), [['a', '1'], ['b', '2'], ['c'], ['d'], ['e'], ['f'], ['g']], 'pipelines, lists, newlines')
  t.same(argvs('(a; b) | { c; d; }'), [['a'], ['b'], ['c'], ['d']], 'subshells and groups')
  t.same(argvs('echo $(pwd) `whoami`'), [['pwd'], ['whoami'], ['echo', '$(pwd)', '`whoami`']], 'a substitution runs before the command that holds it')
  t.same(argvs('rm -rf "$(pwd)"'), [['pwd'], ['rm', '-rf', '$(pwd)']], 'a substituted word keeps the raw $(…) text')
  t.same(argvs('echo "a $(b "c d") e"'), [['b', 'c d'], ['echo', 'a $(b "c d") e']], 'substitution inside double quotes')
  t.same(argvs('x=pre$(a)post'), [['a'], []], 'substitution inside an assignment')
  t.same(argvs('echo ${X:-$(a)} $((1 + $(b))) "`c`"'), [['a'], ['b'], ['c'], ['echo', '${X:-$(a)}', '$((1 + $(b)))', '`c`']])
  t.same(argvs('echo `echo \\`inner\\``'), [['inner'], ['echo', '`inner`'], ['echo', '`echo \\`inner\\``']], 'nested backticks')
  t.same(argvs('f() { a; }; function g { b; }; function h() ( c )'), [['a'], ['b'], ['c']], 'function bodies; the definition is not a command')
  t.same(argvs('if a; then b; elif c; then d; else e; fi'), [['a'], ['b'], ['c'], ['d'], ['e']])
  t.same(argvs('while a; do b; done; until c; do d; done'), [['a'], ['b'], ['c'], ['d']])
  t.same(argvs('for x in $(ls) y; do echo $x; done'), [['ls'], ['echo', '$x']], 'for: the word list is not a command, its substitutions are')
  t.same(argvs('for x\ndo a; done; for ((i=0; i<3; i++)); do b; done; select y in p q; do c; done'), [['a'], ['b'], ['c']])
  t.same(argvs('if\na\nthen\nb\nfi'), [['a'], ['b']], 'newlines in place of semicolons')
  t.same(argvs('echo if then fi done { }'), [['echo', 'if', 'then', 'fi', 'done', '{', '}']], 'reserved words are plain words after the command name')
  t.same(argvs('! a | b'), [['a'], ['b']], 'a negated pipeline')
  t.same(argvs('a |& b'), [['a'], ['b']])
  t.same(argvs('[[ -f x && $y < 3 ]] || z'), [['[[', '-f', 'x', '&&', '$y', '<', '3', ']]'], ['z']], '[[ ]] is one command; its operators are operands')
  t.same(argvs('((i++)); x=$((i * 2))'), [[]], 'arithmetic is no command')
  t.same(argvs('a &&\nb ||\n\nc |\nd'), [['a'], ['b'], ['c'], ['d']], 'a newline may follow &&, || and |')
  t.same(argvs('coproc { a; b; }; coproc NAME (c) > f; coproc while d; do e; done; coproc x [[ -n y ]]'), [['a'], ['b'], ['c'], ['d'], ['e'], ['[[', '-n', 'y', ']]']], 'coproc runs a compound command, named or not')
  t.same(argvs('coproc a b; coproc if { c; }; then d; fi'), [['coproc', 'a', 'b'], ['c'], ['d']], 'coproc before a simple command stays in its argv; a reserved word is no NAME')
})

t.test('quotes, escapes and expansions', async (t) => {
  t.same(argvs('echo \'a b\' "c d" e\\ f \'it\'\'s\' "q\\"uote" "\\$x" "\\a"'), [['echo', 'a b', 'c d', 'e f', 'its', 'q"uote', '$x', '\\a']])
  t.same(argvs('echo $HOME ${HOME} "$HOME/x" $1 $@ $'), [['echo', '$HOME', '${HOME}', '$HOME/x', '$1', '$@', '$']], 'variables stay as written, quotes removed')
  t.same(argvs("\\rm \"rm\" 'r'm $'\\x72m' $'\\162m' $'a\\tb' $\"loc\""), [['rm', 'rm', 'rm', 'rm', 'rm', 'a\tb', 'loc']], 'every spelling of a name is the name')
  t.same(argvs("$'it\\'s' $'\\q' $'\\u00e9'"), [["it's", '\\q', 'é']])
  t.same(argvs('echo a\\\nb \\\n c'), [['echo', 'ab', 'c']], 'line continuations')
  t.same(argvs('echo a#b # a comment\n# another\necho c'), [['echo', 'a#b'], ['echo', 'c']], 'comments start only at a word')
  t.same(argvs('arr=(a "b c" $(d)); echo ${arr[@]}'), [['d'], [], ['echo', '${arr[@]}']], 'array assignments')
  t.same(argvs("echo ${a:-'x }'} ${b:-\"c $(d)\"} ${e:-\\}} ${f:-`g`} ${h:-{i}}"), [['d'], ['g'], ['echo', "${a:-'x }'}", '${b:-"c $(d)"}', '${e:-\\}}', '${f:-`g`}', '${h:-{i}}']], 'inside ${…}: quotes, escapes, substitutions, braces')
  t.same(argvs('echo "${a:-\'x}"'), [['echo', "${a:-'x}"]], 'a single quote in ${…} inside double quotes is a plain character')
  t.same(argvs("echo $(( (1 + 2) * \\3 + \"4\" + '5' + `f` ))"), [['f'], ['echo', "$(( (1 + 2) * \\3 + \"4\" + '5' + `f` ))"]], 'inside $((…))')
  t.same(argvs('echo "`a \\"b\\"`"'), [['a', 'b'], ['echo', '`a \\"b\\"`']], 'a backtick inside double quotes unescapes \\"')
  t.same(argvs("echo $'\\U110000'"), [['echo', '\\U110000']], 'an escape past the last code point stays as written')
})

t.test('unquoted braces expand, as bash does before anything else', async (t) => {
  t.same(argvs('{rm,-rf,/}'), [['rm', '-rf', '/']])
  t.same(argvs('echo a{b,c}d {1..3} {c..a} {08..12..2} x{,} {a,{b,c}}'), [['echo', 'abd', 'acd', '1', '2', '3', 'c', 'b', 'a', '08', '10', '12', 'x', 'x', 'a', 'b', 'c']])
  t.same(argvs('echo "{x,y}" \\{p,q} {a} {} x{a,b a,b} {a..1} ${x,y} FOO={a,b}'), [['echo', '{x,y}', '{p,q}', '{a}', '{}', 'x{a,b', 'a,b}', '{a..1}', '${x,y}', 'FOO=a', 'FOO=b']], 'quoted, escaped, single, empty, unmatched, not a sequence, a parameter; an argument that looks like an assignment expands')
  t.same(commands('sudo {rm,-rf} /').map((c) => c.words.map((w) => w.raw)), [['sudo', '{rm,-rf}', '{rm,-rf}', '/']], 'each word repeats the word it came from')
  t.equal(error('echo {1..1025}'), 'brace expansion makes more than 1024 words')
  t.equal(error('echo ' + '{a,b}'.repeat(11)), 'brace expansion makes more than 1024 words')
  t.same(argvs('echo ' + '{1..1}'.repeat(2500)), [['echo', '1'.repeat(2500)]], 'many one-word groups in one pass')
  t.equal(argvs('echo {1..511}')[0].length, 512, 'a command of 512 words')
  t.equal(error('echo {1..512}'), 'a command of more than 512 words', 'one more is refused, however it was written')
  t.equal(error('echo {a,b}{a,b}{a,b}{a,b}{a,b}{a,b}' + 'x'.repeat(2000)), 'brace expansion makes more than 65536 characters')
  t.equal(error('echo ' + '{a,'.repeat(17)), 'braces nested deeper than 16 levels')
  const eight = '{a,b}'.repeat(8)
  t.equal(error(('echo ' + eight + '; ').repeat(16)), 'parsed', '4096 words in all')
  t.equal(error(('echo ' + eight + '; ').repeat(17)), 'brace expansion too large', 'at most 4096 words in all')
  t.equal(error('echo ' + [...Array(8).fill(`$(echo ${eight})`), ...Array(9).fill(`\`echo ${eight}\``)].join(' ')), 'brace expansion too large', 'substitutions share the budget')
  const budget = new ShellBudget()
  t.equal(parseShell(('echo ' + eight + '; ').repeat(15), { budget }).ok, true)
  t.equal(parseShell('echo ' + eight + ' {a,b}', { budget }).ok, false, 'a budget passed in is shared')
  t.same(argvs('echo {a,{b,'), [['echo', '{a,{b,']], 'braces never closed are text')
  t.same(argvs('echo {a{b,c}} a,b} {x}{y,z}'), [['echo', '{ab}', '{ac}', 'a,b}', '{x}y', '{x}z']])
})

t.test('assignments and redirections are not argv; output targets are recorded', async (t) => {
  const [cmd] = commands('FOO=bar A=$B cmd x >out 2>&1 &>both >>app >|clob 3>three <in <<<here <>rw y >&2 >&file')
  t.same(cmd.argv, ['cmd', 'x', 'y'])
  t.same(cmd.redirects, ['out', 'both', 'app', 'clob', 'three', 'rw', 'file'])
  t.equal(cmd.text, 'FOO=bar A=$B cmd x >out 2>&1 &>both >>app >|clob 3>three <in <<<here <>rw y >&2 >&file')
  t.same(cmd.words, [{ raw: 'cmd', offset: 13 }, { raw: 'x', offset: 17 }, { raw: 'y', offset: 74 }])
  t.same(argvs('cmd FOO=bar'), [['cmd', 'FOO=bar']], 'an assignment after the name is an argument')
  t.same(commands('> /tmp/x').map((c) => [c.argv, c.redirects]), [[[], ['/tmp/x']]], 'a bare redirect is an empty command that writes')
  t.same(commands('{ a; b; } > f; (c) 2>/dev/null').map((c) => c.redirects), [['f'], ['f'], ['/dev/null']], "a compound command's redirects apply to everything inside")
  t.same(commands('echo 2>x').map((c) => c.argv), [['echo']], '2> is a redirection at the start of a word')
  t.same(commands('echo a2>x').map((c) => [c.argv, c.redirects]), [[['echo', 'a2'], ['x']]], 'but only there')
})

t.test('text, words and depth', async (t) => {
  const cmds = commands('  sudo  rm -rf "/"  ;  ( echo  $(id) )  ')
  t.same(cmds.map((c) => c.text), ['sudo  rm -rf "/"', 'id', 'echo  $(id)'])
  t.same(cmds[0].words, [{ raw: 'sudo', offset: 0 }, { raw: 'rm', offset: 6 }, { raw: '-rf', offset: 9 }, { raw: '"/"', offset: 13 }])
  t.same(cmds.map((c) => c.depth), [0, 2, 1])
  t.same(parseShell('a', { depth: 3 }), { ok: true, commands: [{ argv: ['a'], words: [{ raw: 'a', offset: 0 }], text: 'a', redirects: [], depth: 3, assignments: [] }] })
})

t.test('empty input is no commands', async (t) => {
  for (const source of ['', '   ', '\n\n', '# only a comment', ' \\\n ']) t.same(parseShell(source), { ok: true, commands: [] }, JSON.stringify(source))
})

t.test('what cannot be read with confidence is refused, with a reason', async (t) => {
  const cases: Array<[string, string]> = [
    ["echo 'abc", 'unbalanced single quote'],
    ['echo "abc', 'unbalanced double quote'],
    ['echo "$(ls)', 'unbalanced double quote'],
    ["echo $'abc", "unbalanced $' quote"],
    ['echo $(ls', "unclosed '$('"],
    ['echo $(ls; fi)', "unexpected 'fi'"],
    ['echo ${x', "unclosed '${'"],
    ['echo $((1 + 2', "unclosed '$(('"],
    ['echo $((a) | b)', "'$((' closed by a single ')'"],
    ['echo `ls', 'unbalanced backtick'],
    ['echo `ls "`', 'unbalanced double quote'],
    ['(ls', "unclosed '('"],
    ['( { a; } b )', "unexpected 'b' in '('"],
    ['{ ls; ', "unclosed '{'"],
    ['{ }', "'{' with no command inside"],
    ['( )', "'(' with no command inside"],
    ['ls \\', 'trailing backslash'],
    ['a &&', "'&&' with no command after it"],
    ['a ||', "'||' with no command after it"],
    ['a |', "'|' with no command after it"],
    ['| b', "'|' with no command before it"],
    ['&& b', "'&&' with no command before it"],
    [';', "';' with no command before it"],
    ['a; ; b', "';' with no command before it"],
    ['a & ; b', "';' with no command before it"],
    ['a )', "unexpected ')'"],
    ['{ a; } b', "unexpected 'b'"],
    ['cat <<EOF\nhi\nEO', "here-document 'EOF' is never closed"],
    ['cat <<-EOF', "here-document 'EOF' is never closed"],
    ['cat <<EOF\n$(ls\nEOF', "unclosed '$('"],
    ['cat <<EOF\n${x\nEOF\n}', 'a substitution in a here-document runs past its end'],
    ['[[ $(cat <<EOF) ==\nx ]]', 'a here-document inside [[ … ]] or an array is not supported'],
    ['case $x in', "unclosed 'case'"],
    ['case $x in a) b', "unclosed 'case'"],
    ['case $x in a b) c;; esac', "expected ')' after a pattern in 'case', found 'b'"],
    ['case $x in ;; esac', "expected a pattern in 'case', found ';;'"],
    ['case $x in a) b ) esac', "unexpected ')' in 'case'"],
    ['case', "'case' without a word"],
    ['case x y', "expected 'in' after 'case', found 'y'"],
    ['a ;; b', "unexpected ';;'"],
    ['diff <(ls a', "unclosed '$('"],
    ['cat 3<(ls)', 'process substitution after a descriptor number is not supported'],
    ['fi', "unexpected 'fi'"],
    ['done', "unexpected 'done'"],
    ['if a; then b', "unclosed 'if'"],
    ['if a; then b; done', "unexpected 'done'"],
    ['if a; b; fi', "unexpected 'fi'"],
    ['if a; b', "unclosed 'if'"],
    ['if a; b )', "expected 'then' after 'if', found ')'"],
    ['if a; then fi', "'then' with no command inside"],
    ['while a; do b', "unclosed 'while'"],
    ['for x in a; do', "unclosed 'for'"],
    ['for x in a; b; done', "expected 'do' after 'for', found 'b'"],
    ['for ; do a; done', "'for' without a variable name"],
    ['function', "'function' without a name"],
    ['f ( x', "expected ')' in function definition"],
    ['f() echo', 'a function body must be a compound command'],
    ['coproc{ a; }', "unexpected '}'"],
    ['coproc NAME { a; } b', "unexpected 'b'"],
    ['echo >', "'>' with no target"],
    ['echo > ;', "'>' with no target"],
    ['[[ -f x', "unclosed '[['"],
    ['[[ a ; ]]', "unexpected ';' in [[ … ]]"],
    ['a=(b', 'unclosed array assignment'],
    ['a=(b;)', "unexpected ';' in array assignment"],
    ['( ( ( ( ( ( ( ( ( a ) ) ) ) ) ) ) ) )', 'nesting deeper than 8 levels'],
    ['echo $(a $(b $(c $(d $(e $(f $(g $(h $(i)))))))))', 'nesting deeper than 8 levels'],
    ['"$("$("$("$("$("$("$("$("$(', 'nesting deeper than 8 levels'],
    ['x'.repeat(MAX_COMMAND_LENGTH + 1), 'command longer than 16384 characters']
  ]
  for (const [source, reason] of cases) t.equal(error(source), reason, source.slice(0, 60))
})

t.test('here-documents, case, process substitution and arithmetic parse', async (t) => {
  const argvs = (source: string): string[][] => commands(source).map((c) => c.argv)
  t.same(argvs("cat > notes.md <<'EOF'\n# $(rm -rf /) `id`\nEOF\nls"), [['cat'], ['ls']], 'a quoted body is data')
  t.same(argvs('cat > f <<EOF\nhello $(whoami) and `hostname`\n$HOME ${USER:-x}\nEOF'), [['whoami'], ['hostname'], ['cat']], 'an unquoted body\'s substitutions run')
  t.same(argvs('cat <<"E F"\n$(id)\nE F\n'), [['cat']], 'a double-quoted delimiter, spaces and all')
  t.same(argvs('cat <<\\EOF\n$(id)\nEOF'), [['cat']], 'a backslash quotes the delimiter too')
  t.same(argvs('cat <<-EOF | grep x\n\thi $(date)\n\tEOF\necho done'), [['cat'], ['date'], ['grep', 'x'], ['echo', 'done']], '<<- strips tabs (a body is read at the end of its line)')
  t.same(argvs('cat <<A; cat <<B\na\nA\nb $(id)\nB'), [['cat'], ['id'], ['cat']], 'two bodies after one line, in order')
  t.same(argvs('x=$(cat <<EOF\nv\nEOF\n)'), [['cat'], []], 'a here-document inside a substitution')
  t.same(argvs('case "$1" in\n  start|up) run a ;;\n  (stop) run b ;&\n  *) run c ;;&\nesac'), [['run', 'a'], ['run', 'b'], ['run', 'c']])
  t.same(argvs('case $(pick) in a) ;; esac'), [['pick']], 'an empty clause, the subject substituted')
  t.same(argvs('case x in a) one\n two\n;; esac'), [['one'], ['two']])
  t.same(argvs('diff <(sort a) <(sort b) > >(tee log)'), [['sort', 'a'], ['sort', 'b'], ['tee', 'log'], ['diff', '<(sort a)', '<(sort b)']])
  t.same(argvs('while read -r l; do echo "$l"; done < <(find . -name x)'), [['read', '-r', 'l'], ['echo', '$l'], ['find', '.', '-name', 'x']])
  t.same(argvs('echo $(( 1 + $(id -u) )); (( n++ )); [[ $a == b* && -f x ]]'), [['id', '-u'], ['echo', '$(( 1 + $(id -u) ))'], ['[[', '$a', '==', 'b*', '&&', '-f', 'x', ']]']])
  t.same(argvs('until ok; do sleep 1; done; select s in a b; do echo $s; break; done'), [['ok'], ['sleep', '1'], ['echo', '$s'], ['break']])
})

t.test('what runs beside the shell is marked: pipelines and the background', async (t) => {
  t.same(commands('a | b; c & d').map((c) => c.async ?? false), [true, true, true, false])
  t.same(commands('A=1 B=$(x) c').map((c) => c.assignments), [[], ['A=1', 'B=$(x)']])
})

t.test('nesting: eight levels parse, nine do not', async (t) => {
  const nest = (n: number): string => '( '.repeat(n) + 'a' + ' )'.repeat(n)
  t.same(commands(nest(8)).map((c) => c.depth), [8])
  t.equal(error(nest(9)), 'nesting deeper than 8 levels')
  t.equal(error('{ ' + 'if a; then '.repeat(8) + 'b' + '; fi'.repeat(8) + '; }'), 'nesting deeper than 8 levels', 'every construct counts')
  t.equal(parseShell('a', { depth: 9 }).ok, false, 'a string parsed from inside another starts deeper')
  t.equal(parseShell('(a)', { depth: 8 }).ok, false)
})

t.test('hostile input stays fast at the size limit', async (t) => {
  const fill = (unit: string, length = MAX_COMMAND_LENGTH): string => unit.repeat(Math.ceil(length / unit.length)).slice(0, length)
  const inputs = [
    fill('a|') + 'a'.slice(1),
    fill('a && ').replace(/ && $/, ' &&b'),
    fill('x '),
    '"' + fill('$a$', MAX_COMMAND_LENGTH - 2) + '"',
    fill('$(a) '),
    fill('`a` '),
    fill('${a:-b} '),
    '('.repeat(8000) + 'a',
    '"$('.repeat(5000),
    fill('# a\n'),
    '[[ ' + fill('a && ', MAX_COMMAND_LENGTH - 10) + ' ]]'
  ]
  for (const source of inputs) {
    const started = performance.now()
    parseShell(source)
    t.ok(performance.now() - started < 500, `${source.slice(0, 20)}… in under 500 ms`)
  }
})
