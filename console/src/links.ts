/** Links between pages, and errors as the user reads them. */
import { ApiError } from './api.js'

/** A link to a page of the console (the hash names the page and what it shows; never a credential). */
export function pageHref (name: string, ...params: string[]): string {
  return `#/${[name, ...params.map(encodeURIComponent)].join('/')}`
}

/** An error as the user should read it: the catalogue's message and code. */
export function describe (err: unknown): string {
  if (err instanceof ApiError) return `${err.message} (${err.code})`
  return err instanceof Error ? err.message : String(err)
}

/** Runs `work` without waiting for it; a failure is shown, never lost. */
export function inBackground (work: Promise<unknown>, onError: (message: string) => void): void {
  work.catch((err: unknown) => { onError(describe(err)) })
}
