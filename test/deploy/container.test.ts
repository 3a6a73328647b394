/**
 * The Dockerfile, .dockerignore and docker-compose.yml, checked offline: no image is built here,
 * so the instructions are parsed and the health checks' scripts are run against a local server.
 */
import { execFile } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { promisify } from 'node:util'
import yaml from 'js-yaml'
import t from 'tap'
import { PACKAGE_ROOT } from '../../src/paths.js'

const read = (file: string): string => readFileSync(path.join(PACKAGE_ROOT, file), 'utf8')

interface Instruction { op: string, args: string }

/** Instructions in order, continuation lines joined and comments dropped. */
function parseDockerfile (text: string): Instruction[] {
  const joined = text.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n').replace(/\\\n/g, ' ')
  return joined.split('\n').map((l) => l.trim()).filter((l) => l !== '').map((l) => {
    const [op, ...rest] = l.split(/\s+/)
    return { op: op.toUpperCase(), args: rest.join(' ') }
  })
}

/** Whether .dockerignore keeps `file` out of the build context (last matching pattern wins, a directory's pattern covers its contents). */
function ignored (patterns: string[], file: string): boolean {
  const parts = file.split('/')
  let out = false
  for (const raw of patterns) {
    const negated = raw.startsWith('!')
    const glob = new RegExp(`^${(negated ? raw.slice(1) : raw).replace(/\/$/, '').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`)
    if (parts.some((_, i) => glob.test(parts.slice(0, i + 1).join('/')))) out = !negated
  }
  return out
}

const instructions = parseDockerfile(read('Dockerfile'))
const dockerignore = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
const packageJson = JSON.parse(read('package.json')) as { engines: { node: string } }

t.test('the image is built on a Node LTS that package.json allows, never latest', async (t) => {
  const args = new Map(instructions.filter((i) => i.op === 'ARG').map((i) => i.args.split('=') as [string, string]))
  const froms = instructions.filter((i) => i.op === 'FROM').map((i) => i.args.split(/\s+/)[0].replace(/^\$\{(\w+)\}$/, (_, name: string) => args.get(name) ?? name))
  t.equal(froms.length, 2, 'a build stage and a runtime stage')
  for (const image of froms) {
    const m = /^node:(\d+)-(bookworm|trixie)-slim$/.exec(image)
    t.ok(m, `${image}: a slim Debian Node image, pinned to a major`)
    const major = Number(m?.[1])
    t.equal(major % 2, 0, `${image}: an LTS line`)
    t.ok(major >= Number(/>=\s*(\d+)/.exec(packageJson.engines.node)?.[1]), `${image}: satisfies engines ${packageJson.engines.node}`)
  }
})

t.test('the runtime stage runs as a non-root user and checks its own health with Node', async (t) => {
  const runtime = instructions.slice(instructions.findLastIndex((i) => i.op === 'FROM'))
  const user = runtime.filter((i) => i.op === 'USER').at(-1)?.args
  t.match(user, /^[1-9]\d*(:\d+)?$/, 'a numeric, non-root user')
  const healthcheck = runtime.find((i) => i.op === 'HEALTHCHECK')?.args ?? ''
  t.match(healthcheck, /--interval=\d+s .*CMD \[/, 'a HEALTHCHECK with an interval, in exec form')
  t.notOk(instructions.some((i) => /\b(curl|wget)\b/.test(i.args)), 'no curl or wget: slim images have neither')
})

t.test('the build context holds what the Dockerfile copies, and no tests, docs, bench or coverage', async (t) => {
  const sources = instructions.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1))
  t.ok(sources.length > 0)
  for (const source of sources) t.notOk(ignored(dockerignore, source), `${source} reaches the builder`)
  for (const kept of ['test/helpers.ts', 'docs/performance.md', 'bench/run.ts', 'coverage/lcov.info', '.tap/x', 'deploy/kubernetes/base/deployment.yaml', 'node_modules/x/index.js', 'dist/src/app.js', 'data/hmac.key', '.git/HEAD', 'README.md']) {
    t.ok(ignored(dockerignore, kept), `${kept} stays out`)
  }
  t.notOk(sources.some((s) => /^(bench|test|docs)\b/.test(s)), 'no stage copies bench, test or docs')
})

t.test('src builds without bench, which tsconfig.build.json names but the image leaves out', async (t) => {
  const files = readdirSync(path.join(PACKAGE_ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))
  const reachingOut = files.filter((f) => /from '(\.\.\/)+bench\//.test(read(path.join('src', f))))
  t.same(reachingOut, [], 'no source file imports from bench/')
})

/** Runs a health check's `node -e` script against a local server answering `status` (or none at all). */
async function healthExit (script: string, status: number | undefined): Promise<number> {
  const server = createServer((req, res) => { res.statusCode = req.url === '/health' || req.url === '/ready' ? status ?? 500 : 404; res.end() })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  if (status === undefined) await new Promise((resolve) => server.close(resolve))
  try {
    await promisify(execFile)(process.execPath, ['-e', script.replace('127.0.0.1:8080', `127.0.0.1:${port}`)], { env: { PORT: String(port) }, timeout: 10_000 })
    return 0
  } catch (err) {
    return (err as { code: number }).code
  } finally {
    if (status !== undefined) server.close()
  }
}

/** The script of a `node -e SCRIPT` command. */
function nodeScript (command: string[]): string {
  if (command[0] !== 'node' || command[1] !== '-e' || command.length !== 3) throw new Error(`not a node -e command: ${JSON.stringify(command)}`)
  return command[2]
}

t.test("the health checks' scripts pass on 200 and fail on an error or no answer", async (t) => {
  const healthcheck = instructions.find((i) => i.op === 'HEALTHCHECK')?.args ?? ''
  const dockerfileScript = nodeScript(JSON.parse(healthcheck.slice(healthcheck.indexOf('CMD') + 3)) as string[])
  t.match(dockerfileScript, /\/health'/, 'the image asks /health')
  const compose = yaml.load(read('docker-compose.yml')) as { services: Record<string, { healthcheck?: { test: string[] } }> }
  const composeTest = compose.services.arbiter.healthcheck?.test ?? []
  t.equal(composeTest[0], 'CMD')
  const composeScript = nodeScript(composeTest.slice(1))
  for (const script of [dockerfileScript, composeScript]) {
    t.equal(await healthExit(script, 200), 0)
    t.equal(await healthExit(script, 503), 1)
    t.equal(await healthExit(script, undefined), 1)
  }
})

t.test('docker-compose.yml restarts both services and starts Arbiter once Postgres is healthy', async (t) => {
  interface ComposeService { restart?: string, healthcheck?: { test: string[], interval?: string }, depends_on?: Record<string, { condition: string }>, ports?: string[] }
  const { services } = yaml.load(read('docker-compose.yml')) as { services: Record<string, ComposeService> }
  for (const name of ['postgres', 'arbiter']) {
    t.equal(services[name].restart, 'unless-stopped', `${name} restarts`)
    t.ok(services[name].healthcheck?.interval, `${name} has a health check`)
  }
  t.match(services.arbiter.healthcheck?.test.join(' '), /\/ready'/, 'compose asks /ready: the database answers and a policy is loaded')
  t.same(services.arbiter.depends_on, { postgres: { condition: 'service_healthy' } })
  t.ok(services.arbiter.ports?.every((p) => p.startsWith('127.0.0.1:')), 'published on loopback only')
})
