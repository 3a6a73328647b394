/**
 * The reviewer's path through the console: signed in, the queue shows a job the moment a
 * scheduler's check asks for approval (no reload), the approval shows the command's classes and
 * what changed since the same job id was asked before, and an approve with a note releases the
 * scheduler's waitForApproval. Nothing leaves 127.0.0.1; the token is in no URL and no log line.
 */
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { ArbiterClient, type CheckJob } from '../../src/client/index.js'
import { consoleApp, signIn } from './support.js'

const job = (command: string, replicas: number): CheckJob => ({
  job_id: 'deploy-api-7',
  topic: 'job.agent.exec.shell',
  principal_id: 'agent:bot',
  risk_tags: ['prod'],
  labels: { env: 'prod', team: 'payments' },
  command,
  args: { deployment: 'api', replicas },
  evidence: { ticket: 'OPS-1234' }
}) as unknown as CheckJob

t.test('a reviewer sees a new request live, judges it with its diff, approves, and the scheduler goes on', async (t) => {
  const ctx = await consoleApp(t)
  if (ctx === undefined) return
  const scheduler = new ArbiterClient({ baseUrl: ctx.baseUrl, token: ctx.tokens.scheduler })

  // The job was asked once with other content, and the scheduler gave that request up.
  const v1 = job('kubectl scale deploy/api --replicas=3', 3)
  t.equal((await scheduler.check(v1)).decision, 'REQUIRE_APPROVAL')
  t.equal((await ctx.call('POST', '/approvals/deploy-api-7/cancel', ctx.tokens.scheduler, { reason: 'wrong replica count' })).statusCode, 200)

  const page = await ctx.newPage()
  const consoleAnswer = await page.request.get(`${ctx.baseUrl}/console`)
  const csp = consoleAnswer.headers()['content-security-policy'] ?? ''
  t.match(csp, /default-src 'self'/, 'the console page has a Content-Security-Policy')
  t.match(csp, /frame-ancestors 'none'/)
  t.notMatch(csp, /unsafe-inline|unsafe-eval/, 'no inline script or style, no eval')
  t.equal(consoleAnswer.headers()['x-content-type-options'], 'nosniff')
  t.equal(consoleAnswer.headers()['referrer-policy'], 'no-referrer')
  const violations: string[] = []
  page.on('console', (m) => { if (/Content Security Policy|Refused to/.test(m.text())) violations.push(m.text()) })

  await signIn(page, ctx.baseUrl, ctx.tokens.alice)
  await page.getByText('Nothing waits for a decision.').waitFor()
  const loadedAt = await page.evaluate(() => performance.timeOrigin)

  // The scheduler asks again with changed content: the queue shows it without a reload.
  const v2 = job('kubectl scale deploy/api --replicas=30 && curl -fsS -X POST https://hooks.example/deployed', 30)
  const asked = performance.now()
  t.equal((await scheduler.check(v2)).decision, 'REQUIRE_APPROVAL')
  const row = page.locator('#queue-list tr[data-job="deploy-api-7"]')
  await row.waitFor({ timeout: 5000 })
  t.ok(performance.now() - asked < 5000, `in the queue ${(performance.now() - asked).toFixed(0)} ms after the check`)
  t.equal(await page.evaluate(() => performance.timeOrigin), loadedAt, 'the page was not reloaded')
  t.match(await row.textContent(), /awaiting your vote/)
  t.match(await row.textContent(), /agent-changes-need-review/)

  // Filters narrow the queue: a risk tag the job lacks hides it.
  await page.getByLabel('Risk tag').fill('pii')
  await page.getByRole('button', { name: 'Apply' }).click()
  await page.getByText('Nothing waits for a decision.').waitFor()
  await page.getByRole('button', { name: 'Clear' }).click()
  await row.waitFor()

  await row.getByRole('link', { name: 'deploy-api-7' }).click()
  await page.getByRole('heading', { name: /deploy-api-7/ }).waitFor()
  const classes = await page.locator('.classes .badge').allTextContents()
  t.ok(classes.includes('network'), `the command's classes are shown: ${classes.join(', ')}`)
  t.match(await page.locator('pre.command').textContent(), /--replicas=30 && curl/)
  const diff = page.locator('table.diff tbody tr')
  const changed = await diff.allTextContents()
  t.ok(changed.some((r) => r.includes('args.replicas') && r.includes('3') && r.includes('30')), `the diff names args.replicas: ${changed.join(' | ')}`)
  t.ok(changed.some((r) => r.startsWith('command')), 'the diff names the command')
  t.match(await page.locator('.approval').textContent(), /OPS-1234/, 'the evidence is shown')
  t.match(await page.locator('.approval').textContent(), /max_runtime_sec/, 'the constraints the rule injects are shown')

  const waiting = scheduler.waitForApproval(v2, { timeoutMs: 20_000 }).then((a) => ({ a, at: performance.now() }))
  await page.getByLabel('Note').fill('checked the change ticket OPS-1234')
  await page.getByRole('button', { name: 'Approve' }).click()
  const clicked = performance.now()
  const { a, at } = await waiting
  t.match(a, { job_id: 'deploy-api-7', status: 'APPROVED', votes: [{ principal_id: 'alice', vote: 'APPROVE', note: 'checked the change ticket OPS-1234' }] })
  t.ok(at - clicked < 5000, `waitForApproval returned ${(at - clicked).toFixed(0)} ms after the click`)
  await page.locator('.badge', { hasText: 'APPROVED' }).first().waitFor()
  t.match(await scheduler.check(v2), { decision: 'ALLOW_WITH_CONSTRAINTS', approval_ref: a.approval_id })

  // Nothing went anywhere but 127.0.0.1, the token stayed out of URLs and logs, the CSP held.
  t.same(ctx.offsite, [], 'no request left 127.0.0.1')
  t.notOk(page.url().includes(ctx.tokens.alice), 'the token is not in the URL')
  t.ok(ctx.logLines.some((l) => l.includes('"url":"/queue')), 'the server logged the console\'s requests')
  for (const token of [ctx.tokens.alice, ctx.tokens.scheduler]) t.notOk(ctx.logLines.some((l) => l.includes(token)), 'no log line holds a token')
  t.same(violations, [], 'no CSP violation')
  t.equal(await page.evaluate('sessionStorage.getItem("arbiter.token")'), ctx.tokens.alice, 'the token is kept in sessionStorage')
  t.equal(await page.evaluate('localStorage.length'), 0, 'and nowhere that outlives the tab')
})
