/**
 * Failed authentications per source address, in fixed windows. Past the limit an address is
 * refused without its token being looked at until its window ends. Memory is bounded: at most
 * MAX_TRACKED addresses are remembered, the oldest forgotten first.
 */
const MAX_TRACKED = 10_000

interface Window {
  start: number
  failures: number
}

export class FailureLimiter {
  private readonly windows = new Map<string, Window>()

  constructor (private readonly limit: number, private readonly windowMs: number, private readonly now: () => number = Date.now) {}

  /** Milliseconds until `address` may try again, or 0 if it may try now. */
  blockedFor (address: string): number {
    const w = this.current(address)
    if (w === undefined || w.failures < this.limit) return 0
    return w.start + this.windowMs - this.now()
  }

  recordFailure (address: string): void {
    let w = this.current(address)
    if (w === undefined) {
      if (this.windows.size >= MAX_TRACKED) this.evict()
      w = { start: this.now(), failures: 0 }
      this.windows.set(address, w)
    }
    w.failures++
  }

  get tracked (): number {
    return this.windows.size
  }

  private current (address: string): Window | undefined {
    const w = this.windows.get(address)
    if (w !== undefined && this.now() - w.start >= this.windowMs) {
      this.windows.delete(address)
      return undefined
    }
    return w
  }

  private evict (): void {
    const now = this.now()
    for (const [address, w] of this.windows) {
      if (now - w.start >= this.windowMs) this.windows.delete(address)
    }
    // Still full: forget the oldest window (Maps iterate in insertion order).
    if (this.windows.size >= MAX_TRACKED) this.windows.delete(this.windows.keys().next().value as string)
  }
}
