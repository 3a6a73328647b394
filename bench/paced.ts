/**
 * Open-loop load at a fixed rate, in a worker thread: request i is due at start + i / rate,
 * whether or not earlier ones have been answered, and its latency runs from when it was due, so
 * time spent queued behind busy connections counts (no coordinated omission). autocannon's own
 * fixed rate is not used for this: it lets each connection send its quota for the second as fast
 * as it can and then wait, so its "2,000 req/s" is a burst at full concurrency every second.
 */
import http from 'node:http'
import { createRequire } from 'node:module'
import { performance } from 'node:perf_hooks'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { percentile, type LoadResult } from './load.js'

export interface PacedOptions {
  label: string
  url: string
  durationSec: number
  /** Requests per second, spread evenly (due times 1 / rate apart, sent on a 1 ms timer). */
  rate: number
  /** Keep-alive connections at most; requests due while all are busy wait for one. */
  connections: number
  authorization: string
}

interface Sample {
  sent: number
  ok2xx: number
  non2xx: number
  errors: number
  latencies: number[]
  /** Latencies of the answers whose decision was not REQUIRE_APPROVAL. */
  others: number[]
}

/** The p-th percentile of latencies, to 0.1 ms. */
const ms = (xs: readonly number[], p: number): number => Math.round(percentile(xs, p) * 10) / 10

export async function runPaced (opts: PacedOptions): Promise<LoadResult> {
  const worker = new Worker(new URL(import.meta.url), { workerData: opts })
  const sample = await new Promise<Sample>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`paced load worker exited with ${code}`)))
  })
  await worker.terminate()
  const at = (p: number): number => ms(sample.latencies, p)
  const { others } = sample
  return {
    label: opts.label,
    durationSec: opts.durationSec,
    rpsMean: sample.latencies.length / opts.durationSec,
    p50: at(0.5),
    p99: at(0.99),
    max: at(1),
    ok2xx: sample.ok2xx,
    non2xx: sample.non2xx,
    errors: sample.errors,
    timeouts: 0,
    sent: sample.sent,
    others: { count: others.length, p50: ms(others, 0.5), p99: ms(others, 0.99) }
  }
}

async function load (opts: PacedOptions): Promise<Sample> {
  // The same bodies as autocannon's runs: a distinct, realistic job per request.
  const setupRequest = createRequire(import.meta.url)('./setup-request.cjs') as (r: object) => { body: string }
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections })
  const url = new URL(opts.url)
  const total = Math.round(opts.rate * opts.durationSec)
  const interval = 1000 / opts.rate
  const sample: Sample = { sent: 0, ok2xx: 0, non2xx: 0, errors: 0, latencies: [], others: [] }
  let done = 0
  const start = performance.now() + 10
  return await new Promise<Sample>((resolve) => {
    const finish = (): void => {
      if (++done === total) {
        agent.destroy()
        resolve(sample)
      }
    }
    const send = (due: number): void => {
      const { body } = setupRequest({})
      sample.sent++
      const req = http.request({
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: opts.authorization }
      }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => {
          const latency = performance.now() - due
          sample.latencies.push(latency)
          if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) sample.ok2xx++
          else sample.non2xx++
          if (decisionOf(Buffer.concat(chunks)) !== 'REQUIRE_APPROVAL') sample.others.push(latency)
          finish()
        })
      })
      req.on('error', () => {
        sample.errors++
        finish()
      })
      req.end(body)
    }
    let next = 0
    const tick = (): void => {
      const now = performance.now()
      while (next < total && start + next * interval <= now) send(start + interval * next++)
      if (next < total) setTimeout(tick, 1)
    }
    setTimeout(tick, 10)
  })
}

/** The decision an answer carries, if it is one. */
function decisionOf (body: Buffer): string | undefined {
  try {
    const answer = JSON.parse(body.toString('utf8')) as { decision?: unknown }
    return typeof answer.decision === 'string' ? answer.decision : undefined
  } catch {
    return undefined
  }
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort
  load(workerData as PacedOptions).then((s) => port.postMessage(s), (err: unknown) => { throw err })
}
