/** Times as people read them. */
export function age (iso: string | null, now = Date.now()): string {
  if (iso === null) return '—'
  return span(now - Date.parse(iso))
}

/** "in 42 min", or "2 min ago" once past. */
export function until (iso: string | null, now = Date.now()): string {
  if (iso === null) return '—'
  const ms = Date.parse(iso) - now
  return ms >= 0 ? `in ${span(ms)}` : `${span(-ms)} ago`
}

function span (ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min`
  const hours = Math.floor(m / 60)
  if (hours < 48) return `${hours} h ${m % 60} min`
  return `${Math.floor(hours / 24)} d`
}

/** A local time with its date, for tables. */
export function when (iso: string | null): string {
  if (iso === null) return '—'
  const d = new Date(iso)
  return `${d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: '2-digit' })} ${d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })}`
}

/** A JSON value as one line. */
export function show (v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v)
}
