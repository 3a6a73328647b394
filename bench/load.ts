/**
 * Load with autocannon, in this process (in a worker thread by default): at saturation, and at
 * a fixed overall rate. Every request is a distinct job (see setup-request.cts).
 */
import autocannon from 'autocannon'
import { fileURLToPath } from 'node:url'

export interface LoadResult {
  label: string
  durationSec: number
  /** Mean of autocannon's per-second samples of responses. */
  rpsMean: number
  p50: number
  p99: number
  max: number
  ok2xx: number
  non2xx: number
  errors: number
  timeouts: number
  sent: number
}

/** Compiled next to this file from setup-request.cts. */
const SETUP_REQUEST = fileURLToPath(new URL('./setup-request.cjs', import.meta.url))

export interface LoadOptions {
  label: string
  url: string
  durationSec: number
  connections: number
  overallRate?: number
  /** autocannon worker threads; 0 runs it on the servers' own thread. */
  workers: number
  /** Sent as the Authorization header (to the echo endpoint too, so both carry the same bytes). */
  authorization: string
}

export async function runLoad (opts: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url: opts.url,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: opts.authorization },
    connections: opts.connections,
    pipelining: 1,
    duration: opts.durationSec,
    timeout: 10,
    // At a fixed rate autocannon would back-fill "expected" samples at a 1 ms interval (it takes
    // ceil(1 / rate-per-connection) as ms); raw response times are the honest figure here.
    ...(opts.overallRate === undefined ? {} : { overallRate: opts.overallRate, ignoreCoordinatedOmission: true }),
    ...(opts.workers > 0 ? { workers: opts.workers } : {}),
    requests: [{ setupRequest: SETUP_REQUEST }]
  })
  return {
    label: opts.label,
    durationSec: result.duration,
    rpsMean: result.requests.mean,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    ok2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    sent: result.requests.sent
  }
}
