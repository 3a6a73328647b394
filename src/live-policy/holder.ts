/**
 * Holds the policy in force. A reload reads, compiles and stores the new snapshot before it
 * swaps; a bad policy leaves the old one serving and is remembered as the last reload error.
 */
import { watch, type FSWatcher } from 'node:fs'
import { stat } from 'node:fs/promises'
import path from 'node:path'
import type { FastifyBaseLogger as Logger } from 'fastify'
import { compilePolicy, formatProblem, type CompiledPolicy } from '../policy/index.js'
import type { Clock } from '../clock.js'
import type { Database } from '../store/db.js'
import { newestPolicySignature, recordPolicySignature, recordSnapshotSigner, saveSnapshot } from '../store/snapshots.js'
import type { PolicySource } from '../policy/types.js'
import { verifyPolicySignature, type TrustedKeys } from './signature.js'
import { PolicySourceError, readPolicySignature, readPolicySources, touchesPolicy } from './sources.js'

export interface ReloadError {
  at: string
  message: string
  problems: string[]
}

export type ReloadOutcome =
  | { ok: true, changed: boolean, snapshotId: string }
  | { ok: false, error: ReloadError }

export class PolicyLoadError extends Error {
  constructor (readonly problems: string[]) {
    super(`policy failed to load:\n  ${problems.join('\n  ')}`)
    this.name = 'PolicyLoadError'
  }
}

export class PolicyHolder {
  private policy: CompiledPolicy | undefined
  private loaded: string | undefined
  private lastError: ReloadError | null = null
  /** The key that signed the files in force; null when signatures are not required. */
  private signedBy: string | null = null
  private watcher: FSWatcher | undefined
  private watching = false
  private debounce: NodeJS.Timeout | undefined
  private reloading: Promise<ReloadOutcome> | undefined
  reloadFailures = 0

  constructor (
    private readonly policyPath: string,
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly log: Pick<Logger, 'info' | 'warn' | 'error'>,
    /** When given, only a policy signed by one of these keys loads. */
    private readonly trustedKeys?: TrustedKeys
  ) {}

  /** The policy in force; throws before the first successful load. */
  get current (): CompiledPolicy {
    if (this.policy === undefined) throw new Error('no policy loaded')
    return this.policy
  }

  get isLoaded (): boolean {
    return this.policy !== undefined
  }

  status (): { snapshot_id: string, version: string, rule_count: number, files: string[], loaded_at: string, signed_by: string | null, last_reload_error: ReloadError | null } {
    const p = this.current
    return {
      snapshot_id: p.snapshotId,
      version: p.version,
      rule_count: p.rules.length,
      files: p.sources.map((s) => s.file),
      loaded_at: this.loaded as string,
      signed_by: this.signedBy,
      last_reload_error: this.lastError
    }
  }

  /** First load: any failure is fatal to the caller. */
  async load (): Promise<void> {
    const outcome = await this.reload()
    if (!outcome.ok) throw new PolicyLoadError(outcome.error.problems)
  }

  /** Reloads from disk; concurrent calls share one reload. */
  async reload (): Promise<ReloadOutcome> {
    this.reloading ??= this.doReload().finally(() => { this.reloading = undefined })
    return await this.reloading
  }

  private async doReload (): Promise<ReloadOutcome> {
    let problems: string[]
    try {
      const sources = await readPolicySources(this.policyPath)
      // Checked before the files are compiled: unsigned text is not even parsed.
      const signer = await this.signer(sources)
      if (signer.ok) {
        const result = compilePolicy(sources)
        if (result.ok) return await this.install(result.policy, signer)
        problems = result.problems.map(formatProblem)
      } else {
        problems = signer.problems
      }
    } catch (err) {
      problems = err instanceof PolicySourceError ? err.problems : [(err as Error).message]
    }
    this.reloadFailures++
    this.lastError = { at: this.clock.now().toISOString(), message: `policy reload failed with ${problems.length} problem(s); the previous policy stays in force`, problems }
    this.log.error({ problems }, 'policy reload failed')
    return { ok: false, error: this.lastError }
  }

  private async install (next: CompiledPolicy, signer: { keyId: string | null, signedAt?: string }): Promise<ReloadOutcome> {
    const signedBy = signer.keyId
    const changed = next.snapshotId !== this.policy?.snapshotId
    // Stored before it serves: every snapshot that decides something is on record.
    await saveSnapshot(this.db, next, signedBy)
    if (signedBy !== null) {
      await recordSnapshotSigner(this.db, next.snapshotId, signedBy)
      await recordPolicySignature(this.db, next.snapshotId, signedBy, signer.signedAt as string)
    }
    this.policy = next
    this.lastError = null
    if (changed || signedBy !== this.signedBy) {
      this.log.info({ snapshotId: next.snapshotId, rules: next.rules.length, signedBy }, 'policy loaded')
    }
    if (changed) this.loaded = this.clock.now().toISOString()
    this.signedBy = signedBy
    return { ok: true, changed, snapshotId: next.snapshotId }
  }

  /** Who signed `sources`: null when no signature is required, a problem when the one there does not hold. */
  private async signer (sources: readonly PolicySource[]): Promise<{ ok: true, keyId: string | null, signedAt?: string } | { ok: false, problems: string[] }> {
    if (this.trustedKeys === undefined) return { ok: true, keyId: null }
    const sig = await readPolicySignature(this.policyPath)
    const verdict = verifyPolicySignature(sources, sig.text, this.trustedKeys, sig.name)
    if (!verdict.ok) return verdict
    // A signature holds for the files it was made for, forever: without a floor, anyone who can
    // write the directory could put back an older signed policy with its old signature.
    const newest = await newestPolicySignature(this.db)
    if (newest !== undefined && Date.parse(verdict.signedAt) < Date.parse(newest.signed_at)) {
      return { ok: false, problems: [`${sig.name}: signed at ${verdict.signedAt}, before the newest signature a policy was accepted under (${newest.signed_at}, key ${newest.key_id}); an older signed policy comes back only when signed anew (arbiter policy sign)`] }
    }
    return verdict
  }

  /**
   * Reloads when files under the policy path change (debounced: editors write in bursts), or when
   * a ConfigMap volume swaps its `..data` link to a new version. Resolves once the watcher is in
   * place, or has given up (logged, never thrown); callers need not wait for it.
   */
  async watch (debounceMs = 150): Promise<void> {
    if (this.watching) return
    this.watching = true
    try {
      const info = await stat(this.policyPath)
      if (!this.watching) return
      const isDir = info.isDirectory()
      const dir = isDir ? this.policyPath : path.dirname(this.policyPath)
      const only = isDir ? undefined : path.basename(this.policyPath)
      this.watcher = watch(dir, (_event, name) => {
        if (name !== null && !touchesPolicy(name, only)) return
        clearTimeout(this.debounce)
        this.debounce = setTimeout(() => { this.reloadAfterCurrent() }, debounceMs)
      })
      this.watcher.on('error', (err) => this.log.warn({ err }, 'policy watcher failed; reload with SIGHUP'))
    } catch (err) {
      this.log.warn({ err }, 'cannot watch policy path; reload with SIGHUP')
    }
  }

  /** A reload already under way may have read the files before this change: one more follows it. */
  private reloadAfterCurrent (): void {
    const running = this.reloading ?? Promise.resolve()
    running.then(async () => await this.reload()).catch((err: unknown) => this.log.error({ err }, 'policy reload failed'))
  }

  close (): void {
    this.watching = false
    clearTimeout(this.debounce)
    this.watcher?.close()
    this.watcher = undefined
  }
}
