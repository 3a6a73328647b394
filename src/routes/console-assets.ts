/**
 * The web console's files (`GET /console`, `GET /console/:file`), built by `npm run build` into
 * dist/console. No token is needed to fetch them: they hold no data; every page asks the API
 * for what it shows, with the token the user pasted in. Served with a strict
 * Content-Security-Policy: nothing but these files runs or loads, and no page may frame them.
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { errorFor } from '../errors/index.js'
import { PACKAGE_ROOT } from '../paths.js'
import { consoleFileRoute, consolePageRoute } from '../schemas/console.js'

export const CONSOLE_DIR = path.join(PACKAGE_ROOT, 'dist', 'console')

export const CONSOLE_CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "font-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"
].join('; ')

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml'
}
/** One flat directory: a name, one dot, a known extension; nothing that could climb out of it. */
const FILE_NAME = /^[a-z0-9][a-z0-9-]*\.(?:html|js|css|svg)$/

export function consoleAssetRoutes (app: FastifyInstance, opts: { dir?: string } = {}): void {
  const dir = opts.dir ?? CONSOLE_DIR
  const send = async (reply: FastifyReply, file: string): Promise<Buffer> => {
    if (!FILE_NAME.test(file)) throw errorFor('noConsoleFile', file)
    const body = await readFile(path.join(dir, file)).catch(() => { throw errorFor('noConsoleFile', file) })
    reply.headers({
      'content-type': TYPES[path.extname(file)],
      'content-security-policy': CONSOLE_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      'cross-origin-opener-policy': 'same-origin',
      'cache-control': 'no-cache'
    })
    return body
  }
  // `/console/` (a trailing slash typed by hand) is the page too.
  app.get('/console', { config: { access: 'public' }, schema: consolePageRoute }, async (_request, reply) => await send(reply, 'index.html'))
  app.get<{ Params: { file: string } }>('/console/:file', { config: { access: 'public' }, schema: consoleFileRoute }, async (request, reply) => await send(reply, request.params.file === '' ? 'index.html' : request.params.file))
}
