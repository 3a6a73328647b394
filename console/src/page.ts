import type { Whoami } from './api.js'

/** What a page is given: the caller, where to draw, a signal that aborts when the user leaves, the hash's parameters. */
export interface PageContext {
  me: Whoami
  main: HTMLElement
  signal: AbortSignal
  /** The hash's parts after the page's name, decoded. */
  params: string[]
}
