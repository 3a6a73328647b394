/** The policy and helpers the rate-limit tests share. */
import type { Clock } from '../../src/clock.js'
import type { TestApp } from '../helpers.js'

export const POLICY = `version: v1
rules:
  - id: allow-sends
    match: { topics: ["job.mail.send"] }
    decision: allow
  - id: sends-per-tenant
    match: { topics: ["job.mail.send"] }
    decision: throttle
    reason: "at most 5 mails a minute per tenant"
    rate_limit: { max: 5, window_sec: 60, key: [tenant_id, topic] }
  - id: allow-pages
    match: { topics: ["job.pager.page"] }
    decision: allow
  - id: pages-per-team
    match: { topics: ["job.pager.page"] }
    decision: throttle
    rate_limit: { max: 2, window_sec: 10, key: [labels.team] }
  - id: allow-admin
    match: { topics: ["job.admin.*"] }
    decision: allow
  - id: always-throttle-admin
    match: { topics: ["job.admin.bulk"] }
    decision: throttle
    retry_after_sec: 30
  - id: deny-destructive
    match: { risk_tags: [destructive] }
    decision: deny
`

/** A clock the test moves by hand, shared by every instance. */
export function movableClock (): Clock & { advance: (ms: number) => void } {
  let ms = Date.parse('2026-11-26T00:00:00.000Z')
  return { now: () => new Date(ms), advance: (by) => { ms += by } }
}

export async function check (app: TestApp, body: Record<string, unknown>): Promise<{ status: number, body: Record<string, any>, retryAfter?: string }> {
  const res = await app.app.inject({ method: 'POST', url: '/check', payload: body })
  return { status: res.statusCode, body: res.json(), retryAfter: res.headers['retry-after'] as string | undefined }
}
