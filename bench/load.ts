/**
 * Load with autocannon, in this process (in a worker thread by default): at saturation, and at
 * a fixed overall rate. Every request is a distinct job (see setup-request.cts), or one body with
 * a distinct id per request.
 */
import autocannon from 'autocannon'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
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
  /**
   * Paced runs only: the answers other than REQUIRE_APPROVAL (what a mix with approvals should
   * not slow down), their count and percentiles in ms.
   */
  others?: { count: number, p50: number, p99: number }
}

/** The p-th percentile of `xs` (0 for none). */
export function percentile (xs: readonly number[], p: number): number {
  if (xs.length === 0) return 0
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
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
  /**
   * One body for every request instead of setup-request.cts's jobs; each `[<id>]` in it becomes
   * an id of its own per request.
   */
  body?: string
}

/**
 * A per-request hook giving each `[<id>]` of a fixed body an id of its own. autocannon 8's own
 * idReplacement declares a Content-Length for 33-character ids but inserts shorter ones, so the
 * server waits for bytes that never come; and its worker threads take a hook only as a file.
 */
const UNIQUE_IDS = `'use strict'
const prefix = require('node:crypto').randomBytes(4).toString('hex')
let n = 0
module.exports = (request) => ({ ...request, body: request.body.replaceAll('[<id>]', prefix + '-' + n++) })
`

export async function runLoad (opts: LoadOptions): Promise<LoadResult> {
  if (opts.body === undefined) return await autocannonLoad(opts, { setupRequest: SETUP_REQUEST })
  const dir = mkdtempSync(path.join(tmpdir(), 'arbiter-bench-ids-'))
  try {
    const hook = path.join(dir, 'unique-ids.cjs')
    writeFileSync(hook, UNIQUE_IDS)
    return await autocannonLoad(opts, { body: opts.body, setupRequest: hook })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function autocannonLoad (opts: LoadOptions, request: { body?: string, setupRequest: string }): Promise<LoadResult> {
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
    requests: [request]
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
