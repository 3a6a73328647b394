/**
 * Policy replay speed: `count` decision records of a 100-rule policy, signed and chained into a
 * fresh schema on the Postgres server by the real writer, then replayed under a candidate that
 * differs in a few rules (src/replay/). Reports records judged per second, end to end: paging
 * the log out of Postgres, parsing each record, evaluating its job, counting.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { decisionBody, decisionEntry } from '../src/decisions/decision.js'
import { AuditWriter } from '../src/ledger/writer.js'
import { compilePolicy, evaluate, jobHash, normalizeJob, type CompiledPolicy } from '../src/policy/index.js'
import { replayDecisions, type ReplayResult } from '../src/replay/replayer.js'
import { openPostgres } from '../src/store/db.js'
import { migrate } from '../src/store/migrate.js'
import { saveSnapshot } from '../src/store/snapshots.js'
import { generatePolicyYaml, generateRequests } from './evaluation.js'

export interface ReplayBench {
  records: number
  fillSec: number
  /** Each replay of the same records: seconds and records per second. */
  runs: Array<{ sec: number, perSec: number }>
  result: ReplayResult
}

function compileOnce (yaml: string): CompiledPolicy {
  const result = compilePolicy([{ file: 'bench.yaml', text: yaml }])
  if (!result.ok) throw new Error(`generated policy does not compile: ${JSON.stringify(result.problems.slice(0, 3))}`)
  return result.policy
}

export async function benchReplay (databaseUrl: string, count = 50_000, rules = 100, runs = 3): Promise<ReplayBench> {
  const schema = `arbiter_bench_replay_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: databaseUrl })
  await admin.connect()
  await admin.query(`create schema ${schema}`)
  const db = openPostgres(databaseUrl, { schema, max: 4 })
  try {
    await migrate(db)
    const live = compileOnce(generatePolicyYaml(rules))
    // The candidate: every tenth rule of the live one's allow rules turned to require_approval.
    const candidate = compileOnce(generatePolicyYaml(rules).replace(/( {2}- id: r\d*0\n {4}match: \{ topics: \["job\.svc\d+\.read\.\*"\], risk_tags: \[\] \}\n {4}decision: )allow/g, '$1require_approval'))
    await saveSnapshot(db, live)
    const writer = new AuditWriter(db, { id: 'hk_bench', secret: randomBytes(32) })
    const requests = generateRequests(rules, count)
    const t0 = performance.now()
    for (let i = 0; i < count; i += 2000) {
      await Promise.all(requests.slice(i, i + 2000).map(async (r) => {
        const job = normalizeJob(r)
        const prepared = { job, jobHash: jobHash(job), traceId: `trace-${job.job_id}`, policy: live }
        const body = decisionBody(prepared, evaluate(live, job), randomUUID())
        await writer.append(decisionEntry(body, { traceId: prepared.traceId, at: new Date().toISOString(), actor: null }), performance.now() + 60_000)
      }))
    }
    const fillSec = (performance.now() - t0) / 1000
    // What autovacuum would have done by the time anyone replays a log this size.
    await db.query('analyze audit_log')
    const timings: ReplayBench['runs'] = []
    let result: ReplayResult | undefined
    for (let i = 0; i < runs; i++) {
      const start = performance.now()
      result = await replayDecisions(db, { candidate })
      const sec = (performance.now() - start) / 1000
      timings.push({ sec, perSec: result.judged / sec })
    }
    return { records: count, fillSec, runs: timings, result: result as ReplayResult }
  } finally {
    await db.close()
    await admin.query(`drop schema ${schema} cascade`)
    await admin.end()
  }
}
