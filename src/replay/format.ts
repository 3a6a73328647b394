/** A replay's result as text for a terminal, or as one self-contained HTML page (no scripts, no fetches). */
import { DECISIONS, type Decision } from '../policy/types.js'
import type { ReplayResult } from './replayer.js'

const SHORT: Record<Decision, string> = { ALLOW: 'ALLOW', ALLOW_WITH_CONSTRAINTS: 'ALLOW_W_C', REQUIRE_APPROVAL: 'APPROVAL', THROTTLE: 'THROTTLE', DENY: 'DENY' }

function percent (part: number, whole: number): string {
  return whole === 0 ? '0 %' : `${(100 * part / whole).toFixed(part === 0 || part === whole ? 0 : 2)} %`
}

function rule (id: string | null): string {
  return id ?? '(default)'
}

/** The matrix as rows of counts: live decisions down, candidate decisions across. */
function grid (r: ReplayResult): Array<{ live: Decision, counts: number[] }> {
  const lives = DECISIONS.filter((d) => r.matrix.some((c) => c.live === d))
  return lives.map((live) => ({ live, counts: DECISIONS.map((candidate) => r.matrix.find((c) => c.live === live && c.candidate === candidate)?.count ?? 0) }))
}

export function replayText (r: ReplayResult): string {
  const lines = [
    `replayed ${r.judged} decision(s) under candidate ${r.candidate_snapshot}${r.complete ? '' : `; stopped early: judged back to ${r.judged_from ?? 'nothing'}`}`,
    `live snapshots: ${r.live_snapshots.map((s) => `${s.snapshot_id} (${s.count})`).join(', ') || 'none'}`,
    `would change: ${r.changed} (${percent(r.changed, r.judged)}): ${r.loosened} loosened, ${r.tightened} tightened; ${r.rule_changed} more decided alike by another rule`,
    `answered through approvals ${r.via.approval}, grants ${r.via.grant} (compared on the policy's own decision); rate-limit throttles ${r.rate_limited}`
  ]
  if (r.judged > 0) {
    lines.push('', `${'live \\ candidate'.padEnd(24)}${DECISIONS.map((d) => SHORT[d].padStart(11)).join('')}`)
    for (const row of grid(r)) lines.push(`${row.live.padEnd(24)}${row.counts.map((n) => String(n).padStart(11)).join('')}`)
  }
  if (r.changes_by_rule.length > 0) {
    lines.push('', 'changes by rule (live rule → candidate rule):')
    for (const c of r.changes_by_rule) lines.push(`  ${String(c.count).padStart(7)}  ${c.live} → ${c.candidate}  ${rule(c.live_rule)} → ${rule(c.candidate_rule)}`)
  }
  const affected = (title: string, rows: Array<{ name: string, judged: number, changed: number }>): void => {
    if (!rows.some((t) => t.changed > 0)) return
    lines.push('', title)
    for (const t of rows.filter((x) => x.changed > 0)) lines.push(`  ${t.name}: ${t.changed} of ${t.judged} changed`)
  }
  affected('tenants most affected:', r.tenants.map((t) => ({ name: t.tenant_id, ...t })))
  affected('topics most affected:', r.topics.map((t) => ({ name: t.topic, ...t })))
  if (r.examples.length > 0) {
    lines.push('', 'examples:')
    for (const cell of r.examples) {
      lines.push(`  ${cell.live} → ${cell.candidate}`)
      for (const j of cell.jobs) lines.push(`    ${j.tenant_id}/${j.job_id}  trace ${j.trace_id}  decision ${j.decision_id}  ${rule(j.live_rule)} → ${rule(j.candidate_rule)}`)
    }
  }
  for (const f of r.failures) lines.push('', `FAIL: ${f.count} change(s) match --fail-on ${f.fail_on}`)
  return lines.join('\n')
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

function esc (text: string | number | null): string {
  return String(text ?? '(default)').replace(/[&<>"']/g, (c) => ESCAPES[c])
}

function table (head: string[], rows: Array<Array<string | number | null>>): string {
  return `<table><thead><tr>${head.map((h) => `<th scope="col">${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((row) => `<tr>${row.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`
}

/** The report as a page that opens from disk: inline style only, nothing fetched, every value escaped. */
export function replayHtml (r: ReplayResult): string {
  const sections = [
    `<h1>Policy replay</h1><p>Replayed ${r.judged} decision(s) under candidate <code>${esc(r.candidate_snapshot)}</code>${r.complete ? '' : `; stopped early, judged back to ${esc(r.judged_from)}`}.</p>`,
    `<p><strong>${r.changed}</strong> would change (${percent(r.changed, r.judged)}): ${r.loosened} loosened, ${r.tightened} tightened; ${r.rule_changed} more decided alike by another rule. Through approvals ${r.via.approval}, grants ${r.via.grant}; rate-limit throttles ${r.rate_limited}.</p>`,
    r.failures.length === 0 ? '' : `<p class="fail">${r.failures.map((f) => `FAIL: ${f.count} change(s) match fail-on ${esc(f.fail_on)}`).join('<br>')}</p>`,
    '<h2>Live → candidate</h2>',
    table(['live \\ candidate', ...DECISIONS], grid(r).map((row) => [row.live, ...row.counts])),
    '<h2>Changes by rule</h2>',
    table(['count', 'live', 'candidate', 'live rule', 'candidate rule'], r.changes_by_rule.map((c) => [c.count, c.live, c.candidate, c.live_rule, c.candidate_rule])),
    '<h2>Tenants</h2>',
    table(['tenant', 'judged', 'changed'], r.tenants.map((t) => [t.tenant_id, t.judged, t.changed])),
    '<h2>Topics</h2>',
    table(['topic', 'judged', 'changed'], r.topics.map((t) => [t.topic, t.judged, t.changed])),
    '<h2>Examples</h2>',
    table(['change', 'tenant', 'job', 'trace', 'decision', 'live rule', 'candidate rule'], r.examples.flatMap((cell) => cell.jobs.map((j) => [`${cell.live} → ${cell.candidate}`, j.tenant_id, j.job_id, j.trace_id, j.decision_id, j.live_rule, j.candidate_rule])))
  ]
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Arbiter policy replay</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;max-width:70rem}table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}td:first-child{white-space:nowrap}.fail{color:#a00;font-weight:bold}code{word-break:break-all}</style>
</head><body>
${sections.join('\n')}
</body></html>
`
}
