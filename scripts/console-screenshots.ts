/**
 * Screenshots of the web console for the README (docs/console/*.png), taken from the real app
 * with realistic data: an embedded database in a temporary directory, a day's worth of checks,
 * votes, a grant and a finished job, then Chromium (as the browser tests drive it) on each page.
 *
 *   npm run build:console && npx tsx scripts/console-screenshots.ts
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { chromium, type Page } from 'playwright-core'
import { buildApp } from '../src/app.js'
import { loadCheckpointKey } from '../src/audit/checkpoint-key.js'
import { loadHmacKey } from '../src/audit/hmac-key.js'
import { createKey, OPERATOR, type KeyRequest } from '../src/auth/keys.js'
import { loadConfig } from '../src/config.js'
import { PACKAGE_ROOT } from '../src/paths.js'
import { openEmbedded } from '../src/store/db.js'
import { CHROMIUM, LAUNCH_ARGS } from './chromium.js'

const OUT = path.join(PACKAGE_ROOT, 'docs', 'console')
const POLICY = `
version: v1
rules:
  - id: agent-reads-run
    match: { topics: ["job.agent.exec.*"], command_class: [read_only] }
    decision: allow
  - id: agent-changes-need-review
    match: { topics: ["job.agent.exec.*"], command_class: [write, network, destructive, privileged, unknown] }
    decision: require_approval
    reason: Agent commands that change production need a reviewer
    constraints: { max_runtime_sec: 600, network_allowlist: ["hooks.acme.internal"] }
  - id: prod-ticket-writes
    match: { topics: ["job.mcp-bridge.write.*"], risk_tags: [prod] }
    decision: require_approval
    reason: Production ticket writes need review
  - id: two-person-deploys
    match: { topics: ["job.deploy.*"] }
    decision: require_approval
    reason: Deploys to production need two reviewers
    approval: { approvers: 2, roles: [reviewer], ttl_sec: 7200 }
`

async function main (): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'arbiter-shots-'))
  writeFileSync(path.join(dir, 'policy.yaml'), POLICY)
  // The story starts an hour ago: each step moves the clock on, so the queue shows real ages.
  let offsetMs = -60 * 60_000
  const clock = { now: () => new Date(Date.now() + offsetMs) }
  const at = (minutesAgo: number): void => { offsetMs = -minutesAgo * 60_000 }
  const config = loadConfig({ DATA_DIR: dir, POLICY_PATH: path.join(dir, 'policy.yaml'), LOG_LEVEL: 'silent', CHECKPOINT_EVERY: '4' })
  const db = await openEmbedded('memory://')
  const logger = pino({ level: 'silent' })
  const app = await buildApp(config, { db, key: await loadHmacKey({ dataDir: dir }), checkpointKey: await loadCheckpointKey({ dataDir: dir }), logger, clock })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const key = async (k: Partial<KeyRequest> & { principal_id: string }): Promise<string> =>
    (await createKey(db, OPERATOR, { roles: ['reviewer'], tenants: ['acme', 'globex'], kind: 'person', ...k })).token
  const tokens = {
    admin: await key({ principal_id: 'ops-admin', roles: ['admin'], tenants: ['*'], kind: 'service' }),
    scheduler: await key({ principal_id: 'scheduler-prod', roles: ['scheduler'], tenants: ['acme', 'globex'], kind: 'service', agents: ['agent:*'] }),
    alice: await key({ principal_id: 'alice' }),
    bob: await key({ principal_id: 'bob', tenants: ['acme'] }),
    auditor: await key({ principal_id: 'dana', roles: ['auditor'], tenants: ['*'] })
  }
  await key({ principal_id: 'ci-runner', roles: ['scheduler'], tenants: ['acme'], kind: 'service', agents: ['agent:ci-*'] })
  const call = async (token: string, method: string, url: string, body?: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(base + url, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) })
    const json = await res.json() as Record<string, unknown>
    if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(json)}`)
    return json
  }
  const check = async (job: Record<string, unknown>): Promise<Record<string, unknown>> => await call(tokens.scheduler, 'POST', '/check', job)

  // A finished job, for the trace: asked, approved, dispatched, succeeded.
  at(58)
  const closeTicket = { job_id: 'ticket-close-17', tenant_id: 'acme', topic: 'job.mcp-bridge.write.ticket', principal_id: 'agent:support-triage', risk_tags: ['prod'], labels: { env: 'prod', team: 'support' }, args: { ticket: 'SUP-1187', fields: { status: 'resolved' } } }
  await check(closeTicket)
  at(55)
  await call(tokens.alice, 'POST', '/approvals/ticket-close-17/approve', { tenant_id: 'acme', note: 'customer confirmed the fix in SUP-1187' })
  at(54)
  await check(closeTicket)
  for (const status of ['DISPATCHED', 'RUNNING', 'SUCCEEDED']) await call(tokens.scheduler, 'POST', '/jobs/ticket-close-17/events', { tenant_id: 'acme', status, ...(status === 'SUCCEEDED' ? { detail: 'ticket updated, 1 field' } : {}) })

  // A grant for a migration session, used three times.
  at(50)
  await call(tokens.alice, 'POST', '/grants', { tenant_id: 'acme', session_id: 'migration-2026-12-05', match: { topics: ['job.mcp-bridge.write.*'], risk_tags: ['prod'] }, ttl_sec: 7200, max_uses: 20, note: 'ticket migration, OPS-1234' })
  for (let i = 1; i <= 3; i++) await check({ job_id: `migrate-ticket-${i}`, tenant_id: 'acme', session_id: 'migration-2026-12-05', topic: 'job.mcp-bridge.write.ticket', principal_id: 'agent:migrator', risk_tags: ['prod'], args: { ticket: `SUP-${2000 + i}` } })
  const revoked = await call(tokens.bob, 'POST', '/grants', { tenant_id: 'acme', session_id: 'reindex-2026-12-04', match: { topics: ['job.agent.exec.shell'], risk_tags: ['prod'] }, ttl_sec: 3600, max_uses: 5, note: 'search reindex, OPS-1229' })
  await call(tokens.alice, 'DELETE', `/grants/${String(revoked.grant_id)}`)

  // The queue.
  at(47)
  await check({ job_id: 'db-migrate-4471', tenant_id: 'acme', topic: 'job.agent.exec.shell', principal_id: 'agent:migrator', risk_tags: ['prod'], labels: { env: 'prod', service: 'billing' }, command: 'psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f migrations/0042_add_invoice_index.sql', evidence: { ticket: 'OPS-1240', reviewed_sql: true } })
  at(31)
  await check({ job_id: 'ticket-sync-0042', tenant_id: 'acme', topic: 'job.mcp-bridge.write.ticket', principal_id: 'agent:support-triage', risk_tags: ['prod'], labels: { env: 'prod', team: 'support' }, args: { ticket: 'SUP-1203', fields: { priority: 'high', assignee: 'oncall' } } })
  at(26)
  const deploy = (command: string, replicas: number): Record<string, unknown> => ({ job_id: 'scale-api-7', tenant_id: 'acme', topic: 'job.agent.exec.shell', principal_id: 'agent:autoscaler', session_id: 'sess-01JDX3K9Q4', risk_tags: ['prod'], labels: { env: 'prod', team: 'payments' }, command, args: { deployment: 'api', replicas }, evidence: { ticket: 'OPS-1244', dashboard: 'https://grafana.acme.internal/d/api-latency' } })
  await check(deploy('kubectl -n payments scale deploy/api --replicas=12', 12))
  at(18)
  await check({ job_id: 'deploy-payments-311', tenant_id: 'acme', topic: 'job.deploy.payments', principal_id: 'agent:release-bot', risk_tags: ['prod'], labels: { env: 'prod', version: 'v3.11.0' }, args: { image: 'registry.acme.internal/payments:v3.11.0', strategy: 'canary' } })
  await call(tokens.bob, 'POST', '/approvals/deploy-payments-311/approve', { tenant_id: 'acme', note: 'canary metrics look clean' })
  at(6)
  await check(deploy('kubectl -n payments scale deploy/api --replicas=30 && curl -fsS -X POST https://hooks.acme.internal/scaled', 30))
  at(2)
  await check({ job_id: 'cleanup-tmp-88', tenant_id: 'globex', topic: 'job.agent.exec.shell', principal_id: 'agent:janitor', risk_tags: ['staging'], labels: { env: 'staging' }, command: 'find /var/tmp/build -mtime +7 -delete' })
  at(0)
  await app.checkpointer.idle()

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS })
  const shoot = async (token: string | null, hash: string, file: string, ready: (p: Page) => Promise<unknown>, viewport = { width: 1360, height: 860 }, fullPage = false): Promise<void> => {
    const context = await browser.newContext({ viewport, deviceScaleFactor: 1 })
    const page = await context.newPage()
    await page.goto(`${base}/console`)
    if (token !== null) {
      await page.getByLabel('Bearer token').fill(token)
      await page.getByLabel('Bearer token').press('Enter')
      await page.locator('#who .principal').waitFor()
      await page.goto(`${base}/console${hash}`)
    }
    await ready(page)
    await page.mouse.move(0, 0)
    await page.screenshot({ path: path.join(OUT, file), fullPage })
    await context.close()
  }
  await shoot(null, '', 'signin.png', async (p) => { await p.getByLabel('Bearer token').fill('arb_4Jq0c9rZ…') }, { width: 1360, height: 640 })
  await shoot(tokens.alice, '#/queue', 'queue.png', async (p) => await p.locator('#queue-list tbody tr').nth(4).waitFor())
  await shoot(tokens.alice, '#/queue', 'queue-phone.png', async (p) => await p.locator('#queue-list tbody tr').nth(4).waitFor(), { width: 390, height: 844 })
  await shoot(tokens.alice, '#/approval/acme/scale-api-7', 'approval.png', async (p) => await p.locator('table.diff').waitFor(), { width: 1360, height: 860 }, true)
  await shoot(tokens.alice, '#/grants', 'grants.png', async (p) => await p.locator('table.grid').waitFor())
  await shoot(tokens.auditor, '#/trace/acme/ticket-close-17', 'trace.png', async (p) => await p.locator('ol.timeline li').first().waitFor(), { width: 1360, height: 860 }, true)
  await shoot(tokens.admin, '#/keys', 'keys.png', async (p) => await p.locator('table.grid').waitFor())
  await browser.close()
  await app.close()
  rmSync(dir, { recursive: true, force: true })
  console.log(`screenshots in ${OUT}`)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
