import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { PolicySourceError, readPolicySources, touchesPolicy } from '../../src/live-policy/sources.js'
import { tempDir } from '../helpers.js'
import { configMapVolume } from './fixtures/configmap-volume.js'

const POLICY = 'version: v1\nrules: []\n'

/** A policy directory `pol` inside a scratch directory, with a sibling `outside` holding a policy-looking file. */
function layout (t: Parameters<typeof tempDir>[0]): { pol: string, outside: string } {
  const scratch = tempDir(t)
  const pol = path.join(scratch, 'pol')
  const outside = path.join(scratch, 'outside')
  mkdirSync(pol)
  mkdirSync(outside)
  writeFileSync(path.join(outside, 'secret.yaml'), 'not: yours\n')
  return { pol, outside }
}

async function refusal (t: Parameters<typeof tempDir>[0], dir: string): Promise<string[]> {
  const err = await readPolicySources(dir).then(() => undefined, (e: unknown) => e)
  t.type(err, PolicySourceError)
  return (err as PolicySourceError).problems
}

t.test('a ConfigMap volume reads as its visible files, named as listed, without the dot-entries', async (t) => {
  const dir = tempDir(t)
  configMapVolume(dir, { 'main.yaml': POLICY, 'extra.yml': POLICY, 'main.test.yaml': 'cases: []\n' })
  t.same(await readPolicySources(dir), [{ file: 'extra.yml', text: POLICY }, { file: 'main.yaml', text: POLICY }])
})

t.test('a symlink that stays inside the directory is followed, through `..` and through a chain', async (t) => {
  const { pol } = layout(t)
  mkdirSync(path.join(pol, 'real'))
  writeFileSync(path.join(pol, 'real', 'a.yaml'), POLICY)
  symlinkSync(path.join('..', 'pol', 'real', 'a.yaml'), path.join(pol, 'up-and-back.yaml'))
  symlinkSync('real/a.yaml', path.join(pol, 'hop'))
  symlinkSync('hop', path.join(pol, 'chain.yaml'))
  t.same((await readPolicySources(pol)).map((s) => s.file), ['chain.yaml', 'up-and-back.yaml'])
})

t.test('a symlink that resolves outside the directory is refused, each one named', async (t) => {
  const { pol, outside } = layout(t)
  writeFileSync(path.join(pol, 'main.yaml'), POLICY)
  symlinkSync('../outside/secret.yaml', path.join(pol, 'relative.yaml'))
  symlinkSync(path.join(outside, 'secret.yaml'), path.join(pol, 'absolute.yaml'))
  // A chain whose first link is inside and whose last is not.
  symlinkSync('../outside/secret.yaml', path.join(pol, 'inner'))
  symlinkSync('inner', path.join(pol, 'chained.yaml'))
  // A sibling whose name begins with the directory's name is still outside it.
  mkdirSync(`${pol}-evil`)
  writeFileSync(path.join(`${pol}-evil`, 'x.yaml'), POLICY)
  symlinkSync(path.join(`${pol}-evil`, 'x.yaml'), path.join(pol, 'prefix.yaml'))
  const problems = await refusal(t, pol)
  t.equal(problems.length, 4)
  for (const [i, name] of ['absolute.yaml', 'chained.yaml', 'prefix.yaml', 'relative.yaml'].entries()) {
    t.match(problems[i], new RegExp(`^${name.replace('.', '\\.')}: is a symlink that resolves to .*, outside the policy directory .*; refused$`))
  }
})

t.test('a broken link and a link loop are refused; a link to a directory is no policy file', async (t) => {
  const { pol } = layout(t)
  symlinkSync('gone.txt', path.join(pol, 'broken.yaml'))
  symlinkSync('loop-b.yaml', path.join(pol, 'loop-a.yaml'))
  symlinkSync('loop-a.yaml', path.join(pol, 'loop-b.yaml'))
  t.match(await refusal(t, pol), [/^broken\.yaml: is a symlink to gone\.txt, which does not exist$/, /^loop-a\.yaml: is a symlink loop$/, /^loop-b\.yaml: is a symlink loop$/])

  const other = layout(t).pol
  mkdirSync(path.join(other, 'dir'))
  symlinkSync('dir', path.join(other, 'dir.yaml'))
  writeFileSync(path.join(other, 'main.yaml'), POLICY)
  t.same((await readPolicySources(other)).map((s) => s.file), ['main.yaml'])
})

t.test('dot-entries are never policy, not even a broken editor lock', async (t) => {
  const { pol } = layout(t)
  writeFileSync(path.join(pol, 'main.yaml'), POLICY)
  writeFileSync(path.join(pol, '.hidden.yaml'), 'version: v1\nrules: [')
  symlinkSync('user@host.1234', path.join(pol, '.#main.yaml'))
  t.same((await readPolicySources(pol)).map((s) => s.file), ['main.yaml'])
})

t.test('a single policy file is read as named, wherever its link leads', async (t) => {
  const { pol, outside } = layout(t)
  symlinkSync(path.join(outside, 'secret.yaml'), path.join(pol, 'main.yaml'))
  t.same(await readPolicySources(path.join(pol, 'main.yaml')), [{ file: 'main.yaml', text: 'not: yours\n' }])
})

t.test('which directory events can change the policy', async (t) => {
  t.ok(touchesPolicy('main.yaml'))
  t.notOk(touchesPolicy('main.test.yaml'))
  t.notOk(touchesPolicy('.#main.yaml'))
  t.notOk(touchesPolicy('notes.txt'))
  for (const name of ['..data', '..data_tmp', '..2026_12_03_19_00_00.000000001']) {
    t.ok(touchesPolicy(name), `${name}: a ConfigMap swap`)
    t.ok(touchesPolicy(name, 'main.yaml'), `${name}: a ConfigMap swap, for a single-file policy too`)
  }
  t.ok(touchesPolicy('main.yaml', 'main.yaml'))
  t.notOk(touchesPolicy('other.yaml', 'main.yaml'))
  t.ok(touchesPolicy('policy.sig'), 'a signature arriving after its files loads them')
  t.ok(touchesPolicy('main.yaml.sig', 'main.yaml'))
  t.notOk(touchesPolicy('policy.sig', 'main.yaml'))
  t.notOk(touchesPolicy('.policy.sig.4242.tmp'), 'a signature being written aside')
})
