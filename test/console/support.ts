/**
 * Browser tests of the web console: Debian's Chromium driven by playwright-core, against a real
 * Arbiter on 127.0.0.1 (port 0) and a real database. Where Chromium should be there (CI, or
 * /usr/bin/chromium exists) a browser that does not start fails the test; elsewhere it skips.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import type { Test } from 'tap'
import { CONSOLE_DIR } from '../../src/routes/console-assets.js'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { approvalApp, type ApprovalCtx } from '../fixtures/approvals.js'

import { CHROMIUM, LAUNCH_ARGS } from '../../scripts/chromium.js'

/** A policy whose approvals carry a shell command, so the gate's classes show. */
export const CONSOLE_POLICY = `
version: v1
rules:
  - id: agent-reads-run
    match: { topics: ["job.agent.exec.*"], command_class: [read_only] }
    decision: allow
  - id: agent-changes-need-review
    match: { topics: ["job.agent.exec.*"], command_class: [write, network, destructive, privileged, unknown] }
    decision: require_approval
    reason: Agent commands that change things need a reviewer
    constraints: { max_runtime_sec: 300 }
  - id: prod-write
    match: { topics: ["job.write.*"], risk_tags: [prod] }
    decision: require_approval
    reason: Production writes need review
`

/** Builds the console (npm run build:console) when dist/console is missing or older than its sources. */
export function ensureConsoleBuilt (): void {
  const sources = path.join(PACKAGE_ROOT, 'console')
  const newest = Math.max(...[sources, path.join(sources, 'src')].flatMap((d) => readdirSync(d).map((f) => statSync(path.join(d, f)).mtimeMs)))
  const built = path.join(CONSOLE_DIR, 'main.js')
  if (existsSync(built) && statSync(built).mtimeMs >= newest) return
  execFileSync('npm', ['run', '--silent', 'build:console'], { cwd: PACKAGE_ROOT, stdio: 'inherit' })
}

/** Chromium, once per test file; undefined (and the test skipped) only where no Chromium is expected. */
export async function launchBrowser (t: Test): Promise<Browser | undefined> {
  // Named by CHROMIUM_PATH, installed where Debian puts it, or under CI: then it must start.
  const required = process.env.CI !== undefined || process.env.CHROMIUM_PATH !== undefined || existsSync('/usr/bin/chromium')
  try {
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS, timeout: 20_000 })
    t.teardown(async () => { await browser.close() })
    return browser
  } catch (err) {
    if (required) throw new Error(`Chromium at ${CHROMIUM} did not start; the console's browser tests need it (apt-get install chromium)`, { cause: err })
    t.comment(`skipped: no Chromium at ${CHROMIUM}, and none is expected here`)
    return undefined
  }
}

export interface ConsoleCtx extends ApprovalCtx {
  baseUrl: string
  /** Every URL a page asked for that was not on 127.0.0.1 (each was refused). */
  offsite: string[]
  /** A fresh browser context (its own sessionStorage) with a page, confined to 127.0.0.1. */
  newPage: () => Promise<Page>
}

/**
 * An approvals app on a real port, with the console built and a browser to look at it (started
 * while the app is built); undefined when the test skips for want of a browser.
 */
export async function consoleApp (t: Test): Promise<ConsoleCtx | undefined> {
  ensureConsoleBuilt()
  const [browser, ctx] = await Promise.all([
    launchBrowser(t),
    approvalApp(t, { policies: { 'p.yaml': CONSOLE_POLICY }, clockAt: { ms: Date.now() }, env: { LOG_LEVEL: 'info' } })
  ])
  if (browser === undefined) return undefined
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const baseUrl = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
  const offsite: string[] = []
  const contexts: BrowserContext[] = []
  t.teardown(async () => { for (const c of contexts) await c.close() })
  const newPage = async (): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    contexts.push(context)
    await context.route('**/*', async (route) => {
      const url = new URL(route.request().url())
      if (url.hostname === '127.0.0.1') return await route.continue()
      offsite.push(url.href)
      await route.abort()
    })
    const page = await context.newPage()
    page.setDefaultTimeout(10_000)
    return page
  }
  return { ...ctx, baseUrl, offsite, newPage }
}

/** Opens the console and signs in with `token`, pasted and submitted from the keyboard. */
export async function signIn (page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/console`)
  await page.getByLabel('Bearer token').fill(token)
  await page.getByLabel('Bearer token').press('Enter')
  await page.locator('#who .principal').waitFor()
}
