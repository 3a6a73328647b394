/* eslint-disable no-template-curly-in-string -- shell source is full of ${VAR}, meant literally */
import t from 'tap'
import {
  analyzeCommand,
  COMMAND_CLASSES,
  DEFAULT_PROTECTED_PATHS,
  MAX_COMMAND_LENGTH,
  type AnalyzeOptions,
  type CommandClass
} from '../../../src/policy/shell/index.js'

const defaults: AnalyzeOptions = { protectedPaths: DEFAULT_PROTECTED_PATHS }
const analyze = (command: string, options: Partial<AnalyzeOptions> = {}) => analyzeCommand(command, { ...defaults, ...options })

type Expectation = 'deny' | 'pass' | 'unparseable'
interface Detail {
  /** The exact sorted union of classes. */
  classes?: CommandClass[]
  /** deny: the first hit's segment; unparseable: the error. */
  reason?: string
  /** deny: the first hit's target. */
  target?: string
  cwd?: string
  protect?: string[]
}
type Row = [command: string, expectation: Expectation, detail?: Detail]

const DF: CommandClass[] = ['destructive']
const ETC = [...DEFAULT_PROTECTED_PATHS, '/etc/**']

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
  // Wrappers
  ['sudo rm -rf /', 'deny', { reason: 'rm -rf /', classes: ['destructive', 'privileged'] }],
  ['sudo -u root -g wheel -- rm -rf /', 'deny', { reason: 'rm -rf /' }],
  ['sudo -E -H HOME=/x rm -rf ~', 'deny', { reason: 'rm -rf ~' }],
  ['sudo --user=root --group wheel rm -rf /', 'deny', { reason: 'rm -rf /' }],
  ['sudo -uroot -- rm -rf /', 'deny', { reason: 'rm -rf /' }],
  ['doas -C /etc/doas.conf rm -rf /', 'pass', { classes: ['privileged'] }],
  ['pkexec --user root rm -rf /', 'deny', { classes: ['destructive', 'privileged'] }],
  ['chroot --userspec=a:b /mnt rm -rf /', 'deny', { reason: 'rm -rf /' }],
  ['su --command="rm -rf /"', 'deny'],
  ['env - A=1 rm -rf /', 'deny', { reason: 'rm -rf /' }],
  ['xargs -i rm -rf {}', 'deny', { target: '(xargs input)' }],
  ['xargs --replace=@ rm -rf /x/@ /tmp/y', 'deny', { target: '(xargs input)' }],
  ['xargs -I @ rm -rf /tmp/y', 'pass'],
  ['watch -x rm -rf /', 'deny'],
  ['bash --rcfile x -o errexit +x -- -c "rm -rf /"', 'pass', { classes: ['unknown'] }],
  ['bash --rcfile x -o errexit +x -c "rm -rf /"', 'deny'],
  ['doas -u root rm -rf /', 'deny', { classes: ['destructive', 'privileged'] }],
  ['env -i PATH=/bin FOO=1 rm -rf /', 'deny', { reason: 'rm -rf /', classes: DF }],
  ['env -u HOME rm -rf .', 'deny'],
  ['command rm -rf /', 'deny'],
  ['builtin exec rm -rf /', 'deny'],
  ['exec -a x rm -rf /', 'deny'],
  ['nohup rm -rf / &', 'deny'],
  ['nice -n 10 rm -rf /', 'deny'],
  ['time -p rm -rf /', 'deny'],
  ['timeout -s KILL 5m rm -rf /', 'deny', { reason: 'rm -rf /' }],
  ['busybox rm -rf /', 'deny'],
  ['find . -name "*.o" | xargs rm -rf', 'deny', { reason: 'rm -rf', target: '(xargs input)', classes: ['destructive', 'read_only'] }],
  ['xargs -0 -n 10 rm -rf < list', 'deny', { target: '(xargs input)' }],
  ['ls | xargs -I{} rm -rf /tmp/{}', 'deny', { target: '(xargs input)' }],
  ['xargs rm -rf /tmp/x', 'deny', { target: '(xargs input)' }],
  ['xargs rm -r', 'pass'],
  ['/bin/rm -rf /', 'deny', { reason: '/bin/rm -rf /' }],
  ['/usr/bin/sudo /bin/rm -rf /', 'deny', { reason: '/bin/rm -rf /' }],
  ['\\rm -rf /', 'deny'],
  ['"rm" -rf /', 'deny'],
  ["$'\\x72m' -rf /", 'deny'],
  ['$(which rm) -rf /', 'deny'],
  ["bash -c 'rm -rf /'", 'deny', { reason: 'rm -rf /' }],
  ['sh -c "rm -rf $HOME"', 'deny', { target: '$HOME' }],
  ['bash -lc "cd /tmp && rm -rf ."', 'deny', { classes: ['destructive', 'read_only'] }],
  ['bash -e -o pipefail -c "rm -rf ~"', 'deny'],
  ['zsh -c "echo hi"', 'pass', { classes: ['read_only'] }],
  ['eval rm -rf /', 'deny', { reason: 'rm -rf /' }],
  ['eval "rm -rf ~"', 'deny'],
  ['sh -c "bash -c \'rm -rf /\'"', 'deny', { reason: 'rm -rf /' }],
  ['sudo sh -c "rm -rf /"', 'deny', { classes: ['destructive', 'privileged'] }],
  ['su -c "rm -rf /" root', 'deny', { classes: ['destructive', 'privileged'] }],
  ['env -S "rm -rf /"', 'deny'],
  ['watch -n 5 rm -rf /', 'deny'],
  ['bash -c "rm -rf /tmp/x"', 'pass'],
  ['bash script.sh', 'pass', { classes: ['unknown'] }],
  ['command -v rm', 'pass', { classes: ['read_only'] }],
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
  ['cat <<EOF\nrm -rf /\nEOF', 'unparseable', { reason: 'here-documents (<<) are not supported' }],
  ['case $x in *) rm -rf /;; esac', 'unparseable', { reason: 'case … esac is not supported' }],
  ['rm -rf <(ls)', 'unparseable', { reason: 'process substitution is not supported' }],
  ['rm -rf /\\', 'unparseable', { reason: 'trailing backslash' }],
  ['sh -c "rm -rf \'/"', 'unparseable', { reason: 'in the command line given to sh: unbalanced single quote' }],
  ['eval "echo \\$(ls"', 'unparseable', { reason: "in the command line given to eval: unclosed '$('" }]
]

t.test('the table: which commands are denied, which pass, which cannot be read', async (t) => {
  t.ok(TABLE.length >= 80, `${TABLE.length} rows`)
  for (const [command, expectation, detail = {}] of TABLE) {
    const options: Partial<AnalyzeOptions> = {
      ...(detail.cwd === undefined ? {} : { workingDirectory: detail.cwd }),
      ...(detail.protect === undefined ? {} : { protectedPaths: detail.protect })
    }
    const result = analyze(command, options)
    const name = `${JSON.stringify(command)}${detail.cwd === undefined ? '' : ` in ${detail.cwd}`}`
    if (expectation === 'unparseable') {
      t.same(result, { parsed: false, error: detail.reason, classes: ['unknown'], commands: [], forcedDeletes: [] }, `${name} is unparseable`)
      continue
    }
    t.equal(result.parsed, true, `${name} parses`)
    const hit = result.forcedDeletes[0]
    t.equal(hit !== undefined, expectation === 'deny', `${name} ${expectation === 'deny' ? 'is' : 'is not'} a protected forced delete`)
    if (detail.reason !== undefined) t.equal(hit?.segment, detail.reason, `${name}: segment`)
    if (detail.target !== undefined) t.equal(hit?.target, detail.target, `${name}: target`)
    if (detail.classes !== undefined) t.same(result.classes, detail.classes, `${name}: classes`)
  }
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
    'find . ' + fill('-exec rm {} ; ')
  ]
  for (const source of inputs) {
    const started = performance.now()
    analyzeCommand(source, { protectedPaths: [...ETC, '/aaaaaaaaaaaaaaaaaaaaaaaaaaaaab/**'] })
    t.ok(performance.now() - started < 500, `${source.slice(0, 20)}… in under 500 ms`)
  }
})

const CLASSES: Array<[string, CommandClass[]]> = [
  // read_only
  ['ls -la', ['read_only']],
  ['cat a | head -5 | tail -n 2 | sort | uniq -c | cut -d: -f1 | wc -l', ['read_only']],
  ['grep -rn x . && rg y', ['read_only']],
  ['find . -name "*.ts" -type f', ['read_only']],
  ['echo hi; printf "%s" x; pwd; whoami; id; date; uname -a', ['read_only']],
  ['env', ['read_only']],
  ['printenv HOME', ['read_only']],
  ['which node; stat f; du -sh .; df -h; ps aux; top -b -n1', ['read_only']],
  ["awk '{print $1}' f", ['read_only']],
  ['jq .a f.json', ['read_only']],
  ['true && false || test -f x && [ -d y ] && [[ -n z ]]', ['read_only']],
  ['git status && git log --oneline && git diff HEAD && git show x && git rev-parse HEAD', ['read_only']],
  ['git -C repo --no-pager branch -a', ['read_only']],
  ['kubectl -n prod describe pod x', ['network', 'read_only']],
  ['kubectl logs -f x', ['network', 'read_only']],
  ['kubectl top nodes', ['network', 'read_only']],
  ['terraform plan -out x && terraform show && terraform validate', ['read_only']],
  ['docker ps -a && docker images && docker logs x && docker inspect x', ['read_only']],
  ['sed -n "s/i/x/p" f', ['read_only']],
  ['sort -k2 -t, f', ['read_only']],
  ['echo x > /dev/null 2>&1', ['read_only']],
  ['ls 2>/dev/null >&2', ['read_only']],
  ['FOO=bar', ['read_only']],
  // write
  ['cp a b && mv b c && mkdir -p d && touch e && ln -s e f', ['write']],
  ['echo x | tee out.log', ['read_only', 'write']],
  ['sed -i "s/a/b/" f', ['write']],
  ['sed -Ei.bak "s/a/b/" f', ['write']],
  ['sed --in-place=.bak "s/a/b/" f', ['write']],
  ['chmod -R 755 d', ['write']],
  ['git add . && git commit -m x && git checkout -b y && git switch main && git merge y && git rebase main', ['write']],
  ['git tag v1 && git stash && git branch feature', ['write']],
  ['kubectl apply -f x.yaml', ['network', 'write']],
  ['kubectl scale deploy x --replicas=3 && kubectl rollout restart deploy x', ['network', 'write']],
  ['kubectl rollout status deploy x', ['network', 'read_only']],
  ['terraform apply -auto-approve', ['write']],
  ['terraform import a.b id', ['write']],
  ['npm install && yarn && pnpm add x && pip install y', ['network', 'write']],
  ['docker build -t x . && docker run x', ['write']],
  ['docker pull x && docker push x', ['network', 'write']],
  ['echo x > out.txt', ['write']],
  ['cat a >> b', ['write']],
  ['> /tmp/x', ['write']],
  ['{ echo a; } > f', ['write']],
  ["awk '{print > \"out\"}' f", ['write']],
  ['sort -o out f', ['write']],
  ['curl -o out https://x.example', ['network', 'write']],
  ['wget https://x.example/f', ['network', 'write']],
  ['wget -qO- https://x.example/f', ['network']],
  ['wget -O - https://x.example/f; wget --spider https://x.example/', ['network']],
  ['tar -tzf x.tgz', ['read_only']],
  ['tar -czf x.tgz d; tar xf y.tar', ['write']],
  ['yq -i .a=1 f.yaml', ['write']],
  ['tee /dev/null', ['read_only']],
  ['rsync -a src/ dst/', ['network', 'write']],
  ['crontab file', ['write']],
  ['crontab -l', ['read_only']],
  ['git config user.name x', ['write']],
  ['git config --get user.name; git config user.name', ['read_only']],
  ['git config --unset user.name', ['write']],
  ['git remote -v; git remote show origin', ['read_only']],
  ['git remote add up https://x.example/r', ['write']],
  ['git branch --list "f*"', ['read_only']],
  ['git tag -l', ['read_only']],
  // destructive
  ['rm x; rmdir d; shred f; truncate -s0 f; wipefs -a /dev/sdb', ['destructive']],
  ['dd if=/dev/zero of=/dev/sda bs=1M', ['destructive']],
  ['mkfs.ext4 /dev/sdb1 && mkfs -t xfs /dev/sdc', ['destructive']],
  ['git push -f', ['destructive', 'network']],
  ['git push --force-with-lease origin x', ['destructive', 'network']],
  ['git push origin +main', ['destructive', 'network']],
  ['git push origin :old-branch', ['destructive', 'network']],
  ['git reset --hard origin/main', ['destructive']],
  ['git clean -fdx', ['destructive']],
  ['git clean -n', ['write']],
  ['git branch -D x', ['destructive']],
  ['git branch -d -f x', ['destructive']],
  ['git stash drop', ['destructive']],
  ['kubectl delete pod x && kubectl drain node1', ['destructive', 'network']],
  ['terraform destroy', ['destructive']],
  ['terraform apply -destroy', ['destructive']],
  ['terraform state rm a.b', ['destructive']],
  ['docker rm x && docker rmi y && docker system prune -af && docker volume rm v', ['destructive']],
  ['docker container prune && docker image rm x && docker compose down', ['destructive']],
  ['find . -name "*.tmp" -delete', ['destructive']],
  ['find . -exec rm {} +', ['destructive']],
  ['find . -exec chmod 644 {} ;', ['write']],
  ['helm uninstall x', ['destructive', 'network']],
  ['reboot; shutdown -h now; halt; poweroff', ['destructive']],
  ['kill -9 1 && pkill node && killall x', ['destructive']],
  ['rsync -a --delete src/ host:dst/', ['destructive', 'network']],
  ['aws s3 rm s3://b/k && gcloud compute instances delete x && az group delete -n g', ['destructive', 'network']],
  ['crontab -r', ['destructive']],
  // network
  ['curl https://x.example', ['network']],
  ['ssh host uptime', ['network']],
  ['scp a host:b', ['network', 'write']],
  ['nc -l 8080; telnet h 23; ftp h; ping -c1 h; dig x; nslookup x', ['network']],
  ['git clone https://x.example/r && git pull', ['network', 'write']],
  ['git fetch && git ls-remote origin', ['network']],
  ['apt-get install -y x && apt install y && yum install z && dnf install w && apk add v', ['network', 'write']],
  ['helm list', ['network', 'read_only']],
  ['helm install x ./chart', ['network', 'write']],
  ['aws s3 ls && gcloud projects list && az account show', ['network']],
  ['npx some-tool', ['network', 'unknown']],
  // privileged
  ['sudo ls', ['privileged', 'read_only']],
  ['doas cat /etc/shadow', ['privileged', 'read_only']],
  ['sudo -e /etc/hosts', ['privileged', 'write']],
  ['sudo -l', ['privileged']],
  ['su - admin', ['privileged']],
  ['pkexec true', ['privileged', 'read_only']],
  ['mount /dev/sdb /mnt && umount /mnt', ['privileged']],
  ['systemctl restart nginx && service x stop', ['privileged']],
  ['iptables -F && nft flush ruleset', ['privileged']],
  ['chroot /mnt', ['privileged']],
  ['setcap cap_net_raw+ep /bin/x', ['privileged']],
  ['useradd x && usermod -aG y x && userdel z && passwd x', ['privileged']],
  ['chown -R root:root /srv', ['privileged', 'write']],
  ['insmod x.ko && modprobe y && rmmod z', ['privileged']],
  ['sysctl -w net.ipv4.ip_forward=1', ['privileged']],
  ['sysctl net.ipv4.ip_forward=1', ['privileged']],
  ['sysctl net.ipv4.ip_forward', ['read_only']],
  ['hostname', ['read_only']],
  ['hostname db1', ['privileged']],
  // unknown
  ['./deploy.sh', ['unknown']],
  ['python3 -c "import os"', ['unknown']],
  ['make build', ['unknown']],
  ['npm run build', ['unknown']],
  ['git frobnicate', ['unknown']],
  ['$(which git) status', ['read_only']],
  ['kubectl exec -it x -- sh', ['network', 'unknown']],
  ['docker frob', ['unknown']],
  ["awk '{system(\"rm x\")}' f", ['unknown']],
  ['awk -f prog.awk f', ['unknown']],
  ['bash', ['unknown']],
  ['source ./env.sh', ['unknown']]
]

t.test('classification: the table of well-known commands', async (t) => {
  for (const [command, classes] of CLASSES) {
    const result = analyze(command)
    t.same(result.classes, classes, command)
  }
})

t.test('each command carries its own classes; read_only gives way to write, destructive and unknown', async (t) => {
  const result = analyze('ls > out; sudo ls; kubectl get pods; make')
  t.same(result.commands.map((c) => c.classes), [['write'], ['privileged', 'read_only'], ['network', 'read_only'], ['unknown']])
  t.same(result.classes, ['network', 'privileged', 'read_only', 'unknown', 'write'], 'the sorted union')
  t.same(analyze('bash -c "cat x" > out').commands, [{ argv: ['cat', 'x'], text: 'cat x', classes: ['write'] }], "a shell's redirects apply to the commands it runs")
})
