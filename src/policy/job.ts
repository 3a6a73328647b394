/**
 * A check request → the normalized job that rules see and that is hashed. The job hash binds
 * approvals to exactly one job, so it covers every request field but `trace_id`.
 */
import stableStringify from 'fast-json-stable-stringify'
import { sha256Hex } from './hash.js'
import type { Job } from './types.js'

export interface CheckRequest extends Partial<Omit<Job, 'job_id' | 'topic'>> {
  job_id: string
  topic: string
  trace_id?: string
}

export const DEFAULT_TENANT = 'default'

/** Applies defaults: tenant `default`, risk tags as a sorted set. Drops `trace_id`. */
export function normalizeJob (request: CheckRequest): Job {
  const { trace_id: _traceId, ...fields } = request
  return {
    ...fields,
    tenant_id: fields.tenant_id ?? DEFAULT_TENANT,
    risk_tags: [...new Set(fields.risk_tags ?? [])].sort()
  }
}

/** `sha256:` + hex of the canonical JSON of the normalized job. */
export function jobHash (job: Job): string {
  return `sha256:${sha256Hex(stableStringify(job))}`
}
