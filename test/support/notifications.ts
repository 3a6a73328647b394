/**
 * For the notification tests: a real webhook receiver on 127.0.0.1, which keeps every request
 * it was sent and answers as the test says (2xx, an error status, or never), and can go away
 * (connections refused) and come back on the same port; and what the database says was sent.
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import type { Database } from '../../src/store/db.js'

export const SECRET = `whsec_${randomBytes(32).toString('base64')}`

/** A webhook for every tenant at `url`, retried quickly. */
export const notifyEnv = (url: string, extra: Record<string, string> = {}): Record<string, string> =>
  ({ NOTIFY_WEBHOOK_URL: url, NOTIFY_WEBHOOK_SECRET: SECRET, NOTIFY_BACKOFF_MS: '50', NOTIFY_TIMEOUT_MS: '1000', ...extra })

/** The event ids the log says should have been sent: one per notified record. */
export async function expectedIds (db: Database): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    "select tenant_id || ':' || seq as id from audit_log where record_type in ('approval.requested', 'approval.resolved', 'approval.expired', 'job.violation', 'grant.created') order by tenant_id, seq")
  return rows.map((r) => r.id).sort()
}

export interface DeliveryState { status: string, attempts: number, last_http_status: number | null, last_error: string | null }

/** Every delivery's state, oldest first. */
export async function deliveries (db: Database): Promise<DeliveryState[]> {
  return (await db.query<DeliveryState>('select status, attempts, last_http_status, last_error from notification_deliveries order by delivery_id')).rows
}

/** Resolves once `test` does (polled), or throws after `timeoutMs`. */
export async function until (what: string, test: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!await test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

export interface Received {
  id: string
  timestamp: string
  signature: string | undefined
  body: string
  at: number
}

export type Mode = 'ok' | 'error' | 'hang'

export interface Receiver {
  readonly url: string
  readonly received: Received[]
  /** How it answers from now on: 204, 500, or not at all. */
  mode: Mode
  /** Stops listening: connections are refused until `up`. */
  down: () => Promise<void>
  up: () => Promise<void>
  /** Resolves once `n` distinct webhook-ids have arrived (rejects after `timeoutMs`). */
  waitFor: (n: number, timeoutMs?: number) => Promise<void>
  ids: () => Set<string>
}

export async function webhookReceiver (t: Test, path = '/hook'): Promise<Receiver> {
  const received: Received[] = []
  const hanging = new Set<http.ServerResponse>()
  let port = 0
  let server: http.Server | undefined
  const self: Receiver = {
    url: '',
    received,
    mode: 'ok',
    down: async () => {
      const s = server
      server = undefined
      if (s === undefined) return
      for (const res of hanging) res.destroy()
      hanging.clear()
      s.closeAllConnections()
      await new Promise<void>((resolve) => s.close(() => { resolve() }))
    },
    up: async () => {
      if (server !== undefined) return
      const s = http.createServer((req, res) => {
        const chunks: Buffer[] = []
        req.on('data', (c: Buffer) => chunks.push(c))
        req.on('end', () => {
          if (self.mode === 'hang') {
            hanging.add(res)
            return
          }
          if (self.mode === 'ok' && req.url === path) {
            received.push({ id: String(req.headers['webhook-id']), timestamp: String(req.headers['webhook-timestamp']), signature: req.headers['webhook-signature'] as string | undefined, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() })
          }
          res.writeHead(self.mode === 'ok' && req.url === path ? 204 : 500).end()
        })
      })
      s.listen(port, '127.0.0.1')
      await once(s, 'listening')
      port = (s.address() as AddressInfo).port
      server = s
    },
    waitFor: async (n, timeoutMs = 10_000) => {
      const until = Date.now() + timeoutMs
      while (self.ids().size < n) {
        if (Date.now() > until) throw new Error(`waited ${timeoutMs} ms for ${n} notifications; ${self.ids().size} arrived`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
    ids: () => new Set(received.map((r) => r.id))
  }
  await self.up()
  ;(self as { url: string }).url = `http://127.0.0.1:${port}${path}`
  t.teardown(self.down)
  return self
}
