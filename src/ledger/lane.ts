/**
 * One log's groups under way, and what holds the next ones back: a group that must find the
 * head under the lock (until it has sealed), or a resync after a group had to be sealed again.
 */
export class Lane {
  readonly inflight = new Set<Promise<void>>()
  resync = false
  transacting = false
  private holds = 0
  private wake = (): void => {}

  get held (): boolean {
    return this.holds > 0 || (this.resync && this.inflight.size > 0)
  }

  /** Resolves when a group ends or a hold is released. */
  async change (): Promise<void> {
    await Promise.race([...this.inflight, new Promise<void>((resolve) => { this.wake = resolve })])
  }

  run (job: Promise<void>, transaction: boolean): void {
    if (transaction) this.transacting = true
    const tracked: Promise<void> = job.finally(() => {
      if (transaction) this.transacting = false
      this.inflight.delete(tracked)
      this.wake()
    })
    this.inflight.add(tracked)
  }

  /** Wakes the drain for a new append when only a transaction is under way. */
  poke (): void {
    if (this.transacting && this.inflight.size === 1) this.wake()
  }

  hold (): void {
    this.holds++
  }

  release (): void {
    this.holds--
    this.wake()
  }
}

/** Fires once; `settled` resolves then. */
export interface Signal {
  readonly settled: Promise<void>
  readonly fired: boolean
  fire: () => void
}

/** A signal not fired yet. */
export function signal (): Signal {
  let done!: () => void
  const settled = new Promise<void>((resolve) => { done = resolve })
  const s = { settled, fired: false, fire: () => { s.fired = true; done() } }
  return s
}

/** Whether `s` fires within `ms` milliseconds. */
export async function fired (s: Signal, ms: number): Promise<boolean> {
  if (s.fired || ms <= 0) return s.fired
  let timer: NodeJS.Timeout | undefined
  await Promise.race([s.settled, new Promise<void>((resolve) => { timer = setTimeout(resolve, ms) })])
  clearTimeout(timer)
  return s.fired
}
