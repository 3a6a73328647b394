/**
 * The services one Arbiter instance runs, created in dependency order and closed in reverse:
 * the migrated database, the live policy, the checkpointer, the log writer, approvals, grants,
 * the check pipeline and the background sweep. No HTTP here: app.ts puts routes in front.
 */
import type { FastifyBaseLogger as Logger } from 'fastify'
import { performance } from 'node:perf_hooks'
import type { AuditEntry, HmacSigningKey, SealedRecord } from './audit/chain.js'
import type { CheckpointKey } from './audit/checkpoint.js'
import { publicKeyPem } from './audit/checkpoint-key.js'
import { GrantService } from './approvals/grants.js'
import { KeyLookup } from './auth/key-lookup.js'
import { ApprovalService } from './approvals/service.js'
import { randomIds, systemClock, type Clock, type IdGenerator } from './clock.js'
import type { Config } from './config.js'
import { CheckService } from './decisions/check-service.js'
import { voidedEntries } from './decisions/voided.js'
import { Checkpointer } from './ledger/checkpointer.js'
import { Witnesses } from './ledger/witness.js'
import { AuditWriter } from './ledger/writer.js'
import { PolicyHolder } from './live-policy/holder.js'
import { Shadow } from './live-policy/shadow.js'
import { ReplayRuns } from './replay/runs.js'
import { loadTrustedKeys } from './live-policy/trusted-keys.js'
import { Metrics } from './metrics.js'
import { NotificationDispatcher } from './notify/dispatcher.js'
import { pendingStats } from './store/approvals.js'
import { checkpointLags, registerKey } from './store/checkpoints.js'
import type { Database } from './store/db.js'
import { migrate } from './store/migrate.js'
import { notificationBacklog, pruneDeliveries } from './store/notifications.js'
import { ensurePartitions, listPartitions } from './store/partitions.js'
import { pruneRateLimits } from './store/rate-limits.js'

/** How long a record nobody waits for (a `decision.voided`, a `policy.shadow`) may take to commit: longer than a check. */
const VOIDING_BUDGET_MS = 30_000
/** How long delivered and failed notifications stay listed in GET /notifications/deliveries. */
const DELIVERY_KEEP_DAYS = 30

export interface AppDeps {
  db: Database
  key: HmacSigningKey
  /** Every HMAC key the logs may hold records of (default: just `key`). */
  hmacKeys?: ReadonlyMap<string, Buffer>
  checkpointKey: CheckpointKey
  logger: Logger
  clock?: Clock
  ids?: IdGenerator
}

export interface Services {
  db: Database
  clock: Clock
  policies: PolicyHolder
  /** The shadow policy and what it would have done, when POLICY_SHADOW_PATH names one. */
  shadow: { policies: PolicyHolder, report: Shadow } | undefined
  checkpointer: Checkpointer
  witnesses: Witnesses
  metrics: Metrics
  writer: AuditWriter
  approvals: ApprovalService
  grants: GrantService
  checks: CheckService
  replays: ReplayRuns
  /** Bearer keys by id, cached while the database's notifications keep the cache honest. */
  keys: KeyLookup
  /** Delivers the notification outbox to the configured webhooks. */
  notifications: NotificationDispatcher
  /** Makes the audit log's partitions for the clock's period and those ahead of it (also hourly). */
  keepPartitions: () => Promise<void>
  /** Stops the background work; the database stays open (its owner closes it). */
  close: () => Promise<void>
}

export async function createServices (config: Config, deps: AppDeps): Promise<Services> {
  const clock = deps.clock ?? systemClock
  const ids = deps.ids ?? randomIds
  const log = deps.logger
  const db = deps.db

  await migrate(db)
  const keepPartitions = async (): Promise<void> => {
    const made = await ensurePartitions(db, clock.now(), config.auditPartition)
    if (made.length > 0) log.info({ partitions: made }, 'audit log partitions made ahead')
  }
  await keepPartitions()
  const policies = new PolicyHolder(config.policyPath, db, clock, log, await loadTrustedKeys(config.policyTrustedKeys))
  await policies.load()
  // Signatures are not asked of the shadow: it decides nothing. A shadow that does not load at start stops it, as a typo should.
  const shadowPolicies = config.shadowPolicyPath === undefined ? undefined : new PolicyHolder(config.shadowPolicyPath, db, clock, log.child({ policy: 'shadow' }))
  await shadowPolicies?.load()
  await registerKey(db, { id: deps.key.id, algorithm: 'hmac-sha256', publicKey: null })
  await registerKey(db, { id: deps.checkpointKey.id, algorithm: 'ed25519', publicKey: publicKeyPem(deps.checkpointKey) })
  // A witness fails only after a checkpoint was signed, by when `metrics` (made below) exists.
  const witnesses = new Witnesses({ file: config.checkpointWitnessFile, url: config.checkpointWitnessUrl, log, onFailure: (witness) => { metrics.witnessFailures.inc({ witness }) } })
  const checkpointer = new Checkpointer(db, deps.checkpointKey, clock, {
    everyRecords: config.checkpointEvery,
    intervalMs: config.checkpointIntervalSec * 1000,
    hmacKeys: deps.hmacKeys ?? new Map([[deps.key.id, deps.key.secret]]),
    onSigned: (c) => { witnesses.publish(c) }
  }, log)
  await checkpointer.start()
  // A scrape while the database is away still answers, without the series read from it.
  const orNone = async <T>(what: string, read: Promise<T[]>): Promise<T[]> => await read.catch((err: unknown) => {
    log.warn({ err }, `${what} metrics unavailable`)
    return []
  })
  const ageSec = (now: Date, at: Date | string): number => Math.max(0, (now.getTime() - new Date(at).getTime()) / 1000)
  // Read at scrape time, when `writer` exists.
  const metrics = new Metrics({
    policyReloadFailures: () => policies.reloadFailures,
    policySnapshot: () => policies.isLoaded ? policies.current.snapshotId : undefined,
    pendingAppends: () => writer.pending,
    writerStats: () => writer.stats,
    approvalQueues: async () => {
      const now = clock.now()
      const queues = await orNone('approval queue', pendingStats(db, now))
      return queues.map((q) => ({ tenant: q.tenant_id, pending: q.pending, oldestAgeSec: ageSec(now, q.oldest) }))
    },
    checkpointLags: async () => {
      const now = clock.now()
      const lags = await orNone('checkpoint', checkpointLags(db))
      return lags.map((l) => ({ tenant: l.tenant_id, uncovered: l.uncovered, ageSec: l.at === null ? undefined : ageSec(now, l.at) }))
    },
    poolStats: db.poolStats,
    notificationBacklog: async () => await notificationBacklog(db),
    partitionsAheadSec: async () => {
      const last = (await listPartitions(db)).at(-1)
      return last === undefined ? undefined : (last.hi.getTime() - clock.now().getTime()) / 1000
    }
  })
  const writer = new AuditWriter(db, deps.key, {
    log,
    onCommit: (tenant, from, head) => checkpointer.onCommit(tenant, from, head),
    onLateCommit: (_tenant, records) => { voidLateDecisions(records) },
    onGroup: (outcome, records, ms) => {
      metrics.recordGroupDuration.observe({ outcome }, ms / 1000)
      metrics.recordGroupSize.observe({ outcome }, records)
    }
  })
  /** Follows each decision committed after its caller was answered 503 with a `decision.voided`. */
  const voidLateDecisions = (records: SealedRecord[]): void => {
    for (const entry of voidedEntries(records, clock.now())) {
      writer.append(entry, performance.now() + VOIDING_BUDGET_MS).then(
        (sealed) => log.warn({ tenantId: entry.tenant_id, seq: sealed.seq, voided: entry.body.voided_seq }, 'decision voided: it committed after its caller was answered 503'),
        (err: unknown) => log.error({ err, tenantId: entry.tenant_id, voided: entry.body.voided_seq }, 'could not record decision.voided for a late decision; the late-commit counter and this line are its trace'))
    }
  }
  /** A shadow disagreement's record: nobody's answer, so it may wait, and a failure is only logged. */
  const recordShadow = (entry: AuditEntry): void => {
    writer.append(entry, performance.now() + VOIDING_BUDGET_MS).catch((err: unknown) => log.warn({ err, tenantId: entry.tenant_id, jobId: entry.job_id }, 'could not record a policy.shadow disagreement'))
  }
  const approvals = new ApprovalService({ db, writer, clock, ids, maxPending: config.maxPendingApprovals })
  const grants = new GrantService({ db, writer, clock, ids })
  const shadow = shadowPolicies === undefined
    ? undefined
    : { policies: shadowPolicies, report: new Shadow(() => shadowPolicies.current, { evaluations: metrics.shadowEvaluations, disagreements: metrics.shadowDisagreements }, () => clock.now(), config.shadowRecord ? recordShadow : undefined) }
  const checks = new CheckService({ policy: () => policies.current, writer, approvals, db, clock, ids, ...(shadow === undefined ? {} : { observe: (prepared, body) => { shadow.report.observe(prepared, body) } }) })
  const replays = new ReplayRuns(db, clock, log)
  const keys = new KeyLookup(db)
  const notifications = new NotificationDispatcher({
    db,
    config: config.notify,
    log,
    onOutcome: (event, outcome, latencySec) => {
      metrics.notificationDeliveries.inc({ event, outcome })
      if (latencySec !== undefined) metrics.notificationLatency.observe(latencySec)
    }
  })
  notifications.start()
  const stopSweeping = sweepEvery(config.approvalSweepIntervalSec * 1000, async () => {
    await Promise.all([
      approvals.sweep(config.checkBudgetMs).catch((err: unknown) => log.error({ err }, 'approval expiry sweep failed')),
      pruneRateLimits(db, clock.now()).catch((err: unknown) => log.error({ err }, 'rate-limit pruning failed')),
      pruneDeliveries(db, DELIVERY_KEEP_DAYS).catch((err: unknown) => log.error({ err }, 'notification delivery pruning failed'))
    ])
  })
  // Ahead of need by PARTITIONS_AHEAD periods; an append past them makes its own (migrations/0013).
  const stopPartitioning = sweepEvery(PARTITION_INTERVAL_MS, async () => {
    await keepPartitions().catch((err: unknown) => log.error({ err }, 'making audit log partitions failed'))
  })
  return {
    db,
    clock,
    keepPartitions,
    policies,
    shadow,
    checkpointer,
    witnesses,
    metrics,
    writer,
    approvals,
    grants,
    checks,
    replays,
    keys,
    notifications,
    close: async () => {
      stopSweeping()
      stopPartitioning()
      await notifications.close()
      await keys.close()
      replays.close()
      policies.close()
      shadowPolicies?.close()
      metrics.close()
      await checkpointer.close()
      await witnesses.close()
    }
  }
}

const PARTITION_INTERVAL_MS = 3_600_000

/** Runs `sweep` every `intervalMs`, never two at once; returns the function that stops it. */
function sweepEvery (intervalMs: number, sweep: () => Promise<void>): () => void {
  let sweeping = false
  const timer = setInterval(() => {
    if (sweeping) return
    sweeping = true
    sweep().finally(() => { sweeping = false })
  }, intervalMs).unref()
  return () => clearInterval(timer)
}
