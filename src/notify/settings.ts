/**
 * Where notifications go, from the environment config.ts validated: one global webhook
 * (NOTIFY_WEBHOOK_URL) and each tenant's own (NOTIFY_TENANT_WEBHOOKS). A webhook's secret is
 * kept inside its `sign` function and nowhere else, so no log line or answer can carry it.
 */
import { NAME_PATTERN } from '../policy/request-schema.js'
import { parseSecret, signature } from './signature.js'

export const WEBHOOK_FORMATS = ['standard', 'slack'] as const
export type WebhookFormat = typeof WEBHOOK_FORMATS[number]

export interface Webhook {
  readonly url: string
  readonly format: WebhookFormat
  /** The `webhook-signature` of a message; undefined for a webhook without a secret (Slack's). */
  readonly sign: ((id: string, timestampSec: number, body: string) => string) | undefined
}

export interface NotifyConfig {
  readonly global: Webhook | undefined
  readonly tenants: ReadonlyMap<string, Webhook>
  /** Where the web console is served, for the links in notifications (none without it). */
  readonly consoleBaseUrl: string | undefined
  /** How long after its record an event is retried before its delivery is marked failed. */
  readonly retryMaxSec: number
  /** The wait before the first retry; it doubles each time, up to MAX_BACKOFF_MS. */
  readonly backoffMs: number
  /** How long one attempt may take, connection and answer. */
  readonly timeoutMs: number
}

export interface NotifyEnv {
  NOTIFY_WEBHOOK_URL?: string
  NOTIFY_WEBHOOK_SECRET?: string
  NOTIFY_WEBHOOK_FORMAT?: string
  NOTIFY_TENANT_WEBHOOKS?: string
  CONSOLE_BASE_URL?: string
  NOTIFY_RETRY_MAX_SEC: number
  NOTIFY_BACKOFF_MS: number
  NOTIFY_TIMEOUT_MS: number
}

/** The notification settings, or every problem with them (never quoting a secret). */
export function notifyConfig (env: NotifyEnv): { config: NotifyConfig } | { problems: string[] } {
  const problems: string[] = []
  let global: Webhook | undefined
  if (env.NOTIFY_WEBHOOK_URL !== undefined) {
    global = webhook('NOTIFY_WEBHOOK_URL', { url: env.NOTIFY_WEBHOOK_URL, secret: env.NOTIFY_WEBHOOK_SECRET, format: env.NOTIFY_WEBHOOK_FORMAT ?? 'standard' }, problems)
  } else if (env.NOTIFY_WEBHOOK_SECRET !== undefined) {
    problems.push('NOTIFY_WEBHOOK_SECRET: is set without NOTIFY_WEBHOOK_URL')
  }
  const tenants = new Map<string, Webhook>()
  if (env.NOTIFY_TENANT_WEBHOOKS !== undefined) {
    let parsed: unknown
    try {
      parsed = JSON.parse(env.NOTIFY_TENANT_WEBHOOKS)
    } catch {
      parsed = undefined
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      problems.push('NOTIFY_TENANT_WEBHOOKS: must be a JSON object of tenant id → {"url", "secret", "format"}')
    } else {
      for (const [tenant, spec] of Object.entries(parsed)) {
        const where = `NOTIFY_TENANT_WEBHOOKS.${tenant}`
        if (!new RegExp(NAME_PATTERN).test(tenant) || tenant.length > 128) problems.push(`${where}: is not a tenant id`)
        const hook = webhookOf(where, spec, problems)
        if (hook !== undefined) tenants.set(tenant, hook)
      }
    }
  }
  const consoleBaseUrl = env.CONSOLE_BASE_URL === undefined ? undefined : httpUrl('CONSOLE_BASE_URL', env.CONSOLE_BASE_URL, problems)?.replace(/\/+$/, '')
  if (problems.length > 0) return { problems }
  return {
    config: Object.freeze({
      global,
      tenants,
      consoleBaseUrl,
      retryMaxSec: env.NOTIFY_RETRY_MAX_SEC,
      backoffMs: env.NOTIFY_BACKOFF_MS,
      timeoutMs: env.NOTIFY_TIMEOUT_MS
    })
  }
}

/** A tenant's entry: exactly `url`, and optionally `secret` and `format`. */
function webhookOf (where: string, spec: unknown, problems: string[]): Webhook | undefined {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    problems.push(`${where}: must be an object {"url", "secret", "format"}`)
    return undefined
  }
  const s = spec as Record<string, unknown>
  const unknown = Object.keys(s).filter((k) => !['url', 'secret', 'format'].includes(k))
  if (unknown.length > 0) problems.push(`${where}: unknown field ${unknown.join(', ')}`)
  if (typeof s.url !== 'string') problems.push(`${where}.url: must be a string`)
  if (s.secret !== undefined && typeof s.secret !== 'string') problems.push(`${where}.secret: must be a string`)
  if (s.format !== undefined && typeof s.format !== 'string') problems.push(`${where}.format: must be a string`)
  if (typeof s.url !== 'string' || (s.secret !== undefined && typeof s.secret !== 'string')) return undefined
  return webhook(where, { url: s.url, secret: s.secret as string | undefined, format: typeof s.format === 'string' ? s.format : 'standard' }, problems)
}

function webhook (where: string, w: { url: string, secret: string | undefined, format: string }, problems: string[]): Webhook | undefined {
  const url = httpUrl(where.endsWith('URL') ? where : `${where}.url`, w.url, problems)
  const secretName = where === 'NOTIFY_WEBHOOK_URL' ? 'NOTIFY_WEBHOOK_SECRET' : `${where}.secret`
  if (!(WEBHOOK_FORMATS as readonly string[]).includes(w.format)) {
    problems.push(`${where === 'NOTIFY_WEBHOOK_URL' ? 'NOTIFY_WEBHOOK_FORMAT' : `${where}.format`}: must be one of ${WEBHOOK_FORMATS.join(', ')}`)
    return undefined
  }
  const format = w.format as WebhookFormat
  let secret: Buffer | undefined
  if (w.secret !== undefined) {
    secret = parseSecret(w.secret)
    if (secret === undefined) problems.push(`${secretName}: must be whsec_ followed by the base64 of 24 to 64 random bytes`)
  } else if (format === 'standard') {
    // Unsigned notifications are ones anybody could forge: the standard format insists on a secret.
    problems.push(`${secretName}: is required for the standard format (whsec_ + base64 of 24 to 64 random bytes, e.g. "whsec_$(openssl rand -base64 32)")`)
  }
  if (url === undefined || (w.secret !== undefined && secret === undefined) || (secret === undefined && format === 'standard')) return undefined
  const key = secret
  return Object.freeze({
    url,
    format,
    sign: key === undefined ? undefined : (id: string, timestampSec: number, body: string) => signature(key, id, timestampSec, body)
  })
}

/** An absolute http(s) URL, or a problem. */
function httpUrl (name: string, text: string, problems: string[]): string | undefined {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    problems.push(`${name}: is not a URL`)
    return undefined
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push(`${name}: must be an http:// or https:// URL`)
    return undefined
  }
  return url.href
}

/** The URL as logs and answers may show it: a webhook's path can be its secret (Slack's are). */
export function origin (url: string): string {
  return new URL(url).origin
}
