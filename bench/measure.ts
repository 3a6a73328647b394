/**
 * One measured load run: autocannon's figures plus what this process and the machine spent,
 * and, for Arbiter, the group commits the run caused.
 */
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { percentile, runLoad, type LoadOptions, type LoadResult } from './load.js'
import { runPaced } from './paced.js'
import type { Arbiter, GroupLog } from './servers.js'

export interface GroupSummary {
  count: number
  meanSize: number
  /** Group sizes at the 10th, 50th and 90th percentiles, and the largest. */
  sizes: [number, number, number, number]
  totalP50: number
  totalP99: number
  /** Mean milliseconds per group of each part of the transaction. */
  mean: { total: number, begin: number, set: number, insert: number, commit: number }
}

export interface Phase extends LoadResult {
  /** Event-loop utilisation of the thread running both servers. */
  elu: number
  /** CPU time of this process / wall time (2.0 = two cores). */
  cpu: number
  /** Busy fraction of all the machine's cores, Postgres included. */
  machineBusy: number
  groups?: GroupSummary
}

function cpuTimes (): { idle: number, total: number } {
  let idle = 0
  let total = 0
  for (const c of os.cpus()) {
    idle += c.times.idle
    total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq
  }
  return { idle, total }
}

/** Busy share of all cores over the next `ms` milliseconds. */
export async function hostBusy (ms: number): Promise<number> {
  const a = cpuTimes()
  await sleep(ms)
  const b = cpuTimes()
  return 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total)
}

function summarize (log: GroupLog, from: number): GroupSummary {
  const sizes = log.sizes.slice(from)
  const mean = (xs: number[]): number => xs.slice(from).reduce((a, b) => a + b, 0) / Math.max(1, xs.length - from)
  return {
    count: sizes.length,
    meanSize: sizes.reduce((a, b) => a + b, 0) / Math.max(1, sizes.length),
    sizes: [percentile(sizes, 0.1), percentile(sizes, 0.5), percentile(sizes, 0.9), Math.max(0, ...sizes)],
    totalP50: percentile(log.totalMs.slice(from), 0.5),
    totalP99: percentile(log.totalMs.slice(from), 0.99),
    mean: { total: mean(log.totalMs), begin: mean(log.beginMs), set: mean(log.setMs), insert: mean(log.insertMs), commit: mean(log.commitMs) }
  }
}

/** Waits until the decision writer has been idle for a moment: every record settled. */
export async function settle (arbiter: Arbiter): Promise<void> {
  const s = arbiter.app.auditWriter.stats
  const total = (): number => s.records + s.expired + s.failedGroups
  let last = -1
  for (let i = 0; i < 50 && total() !== last; i++) {
    last = total()
    await sleep(200)
  }
}

export async function measure (opts: LoadOptions, arbiter?: Arbiter): Promise<Phase> {
  const from = arbiter?.groups.sizes.length ?? 0
  const elu0 = performance.eventLoopUtilization()
  const cpu0 = process.cpuUsage()
  const machine0 = cpuTimes()
  const t0 = performance.now()
  // A fixed rate is paced evenly by our own generator (see paced.ts), saturation is autocannon's.
  const load = opts.overallRate === undefined
    ? await runLoad(opts)
    : await runPaced({ label: opts.label, url: opts.url, durationSec: opts.durationSec, rate: opts.overallRate, connections: opts.connections, authorization: opts.authorization })
  const wallUs = (performance.now() - t0) * 1000
  const cpu = process.cpuUsage(cpu0)
  const machine1 = cpuTimes()
  const phase: Phase = {
    ...load,
    elu: performance.eventLoopUtilization(elu0).utilization,
    cpu: (cpu.user + cpu.system) / wallUs,
    machineBusy: 1 - (machine1.idle - machine0.idle) / Math.max(1, machine1.total - machine0.total)
  }
  if (arbiter !== undefined) {
    await settle(arbiter)
    phase.groups = summarize(arbiter.groups, from)
  }
  await sleep(500)
  return phase
}
