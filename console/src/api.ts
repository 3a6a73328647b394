/**
 * The console's only way to Arbiter: the same HTTP API as curl, with the pasted token in the
 * Authorization header. The token lives in sessionStorage (gone with the tab), never in a URL.
 */
const TOKEN_KEY = 'arbiter.token'

export interface Whoami {
  principal_id: string
  key_id: string | null
  roles: string[]
  tenants: string[]
  agents: string[]
  kind: 'person' | 'service'
}

/** An answer in Arbiter's error shape. */
export class ApiError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

export function storedToken (): string | null {
  return sessionStorage.getItem(TOKEN_KEY)
}

export function storeToken (token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token)
}

export function forgetToken (): void {
  sessionStorage.removeItem(TOKEN_KEY)
}

type Query = Record<string, string | undefined>

/** `path` with the query's defined values, each encoded. */
export function withQuery (path: string, query: Query = {}): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q.set(k, v)
  const s = q.toString()
  return s === '' ? path : `${path}?${s}`
}

/** Calls the API; a non-2xx answer throws an ApiError with the catalogue's code and message. */
export async function api<T> (method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  const token = storedToken()
  if (token !== null) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' })
  const text = await res.text()
  const parsed = text === '' ? {} : JSON.parse(text) as Record<string, unknown>
  if (!res.ok) throw new ApiError(res.status, String(parsed.code ?? 'ARBITER_ERR_HTTP'), String(parsed.message ?? res.statusText))
  return parsed as T
}

export const enc = encodeURIComponent
