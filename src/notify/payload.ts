/**
 * What a notification says. It goes to receivers such as chat channels, read by more people than
 * the log is: ids, the topic, the rule and its reason, states and who acted, and a link to the
 * console; never the job's arguments, command or evidence, a vote's or grant's note, or a key.
 * Pure: no I/O.
 */
import type { ParsedRecord } from '../audit/chain.js'
import type { WebhookFormat } from './settings.js'

export const EVENT_TYPES = ['approval.requested', 'approval.resolved', 'approval.expired', 'job.violation', 'grant.created'] as const
export type EventType = typeof EVENT_TYPES[number]

/** An outbox event with what it is told with: its record, and its approval's or job's topic and rule. */
export interface NotificationSource {
  tenant_id: string
  seq: number
  record: ParsedRecord
  /** The approval an approval.* record is about, as its row says now. */
  approval: { topic: string, rule_id: string | null, reason: string, approvals_required: number } | null
  /** The job's decision before a job.violation. */
  decision: { topic: string | null, rule_id: string | null } | null
}

/** Stable per record, so a receiver told twice (an attempt whose answer was lost) can tell. */
export function eventId (tenantId: string, seq: number): string {
  return `${tenantId}:${seq}`
}

/** The console's page of a job's approval: the one place the console's routing is spelled. */
export function consoleApprovalUrl (base: string, tenantId: string, jobId: string): string {
  return `${base}/console/#/approvals/${encodeURIComponent(jobId)}?tenant_id=${encodeURIComponent(tenantId)}`
}

/** The event's `data`: the same fields for every format. */
export function eventData (s: NotificationSource, consoleBaseUrl: string | undefined): Record<string, unknown> {
  const r = s.record
  const b = r.body
  const common = { event_id: eventId(s.tenant_id, s.seq), tenant_id: s.tenant_id, seq: s.seq, trace_id: r.trace_id, job_id: r.job_id, at: r.at, actor: principalOf(r.actor) }
  switch (r.type as EventType) {
    case 'job.violation':
      return { ...common, topic: s.decision?.topic ?? null, rule_id: s.decision?.rule_id ?? null, kind: b.kind, status: b.status, decision: b.decision, reason: b.reason, console_url: null }
    case 'grant.created': {
      const match = b.match as { topics?: string[] } | undefined
      return { ...common, grant_id: b.grant_id, session_id: b.session_id, topics: match?.topics ?? [], expires_at: b.expires_at, max_uses: b.max_uses, console_url: null }
    }
    default:
      return {
        ...common,
        approval_id: b.approval_id,
        topic: s.approval?.topic ?? null,
        rule_id: s.approval?.rule_id ?? null,
        reason: s.approval?.reason ?? null,
        status: b.approval_state,
        approvals_required: s.approval?.approvals_required ?? null,
        expires_at: r.type === 'approval.requested' ? b.expires_at : null,
        resolved_by: r.type === 'approval.resolved' ? resolvers(b.resolution) : null,
        console_url: consoleBaseUrl === undefined || r.job_id === null ? null : consoleApprovalUrl(consoleBaseUrl, s.tenant_id, r.job_id)
      }
  }
}

/** The body sent to a webhook of `format`. */
export function eventBody (s: NotificationSource, format: WebhookFormat, consoleBaseUrl: string | undefined): string {
  const data = eventData(s, consoleBaseUrl)
  if (format === 'slack') return JSON.stringify({ text: slackText(s.record.type as EventType, data) })
  return JSON.stringify({ type: s.record.type, timestamp: s.record.at, data })
}

/** One line a person reads in a channel, with the console link when there is one. */
function slackText (type: EventType, d: Record<string, unknown>): string {
  const where = `tenant ${esc(d.tenant_id)}`
  const job = `job \`${esc(d.job_id)}\``
  const topic = d.topic === null || d.topic === undefined ? '' : ` (${esc(d.topic)})`
  const link = typeof d.console_url === 'string' ? ` <${d.console_url}|Open in the console>` : ''
  switch (type) {
    case 'approval.requested':
      return `:hourglass: Approval requested for ${job}${topic} in ${where}: ${esc(d.reason)} (rule ${esc(d.rule_id)}, ${String(d.approvals_required)} approver(s), until ${esc(d.expires_at)}).${link}`
    case 'approval.resolved':
      return `${d.status === 'APPROVED' ? ':white_check_mark:' : ':no_entry:'} ${job}${topic} in ${where} was ${esc(String(d.status).toLowerCase())} by ${esc((d.resolved_by as string[] | null)?.join(', ') ?? 'a reviewer')}.${link}`
    case 'approval.expired':
      return `:alarm_clock: The approval of ${job}${topic} in ${where} expired unanswered.${link}`
    case 'job.violation':
      return `:rotating_light: ${job}${topic} in ${where} was reported ${esc(d.status)} without an ALLOW covering it (${esc(d.kind)}; decision ${esc(d.decision)}).`
    case 'grant.created':
      return `:key: ${esc(d.actor ?? 'someone')} granted session \`${esc(d.session_id)}\` in ${where} up to ${String(d.max_uses)} use(s) of ${esc((d.topics as string[]).join(', '))} until ${esc(d.expires_at)}.`
  }
}

/** Slack's three control characters, escaped as its formatting rules ask. */
function esc (value: unknown): string {
  return String(value).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function principalOf (actor: ParsedRecord['actor']): string | null {
  return actor?.principal_id ?? actor?.system ?? null
}

/** Who resolved an approval: its approvers, or the reviewer who denied it. */
function resolvers (resolution: unknown): string[] | null {
  const r = resolution as { approvers?: string[], by?: { principal_id?: string } } | null | undefined
  if (Array.isArray(r?.approvers)) return r.approvers
  return typeof r?.by?.principal_id === 'string' ? [r.by.principal_id] : null
}
