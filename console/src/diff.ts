/**
 * What changed between two versions of a job: each field path whose value differs, was added or
 * was removed. Paths are dotted (`args.replicas`, `risk_tags[1]`).
 */
export interface Change { path: string, kind: 'changed' | 'added' | 'removed', before?: unknown, after?: unknown }

function flatten (v: unknown, prefix: string, out: Map<string, unknown>): void {
  if (Array.isArray(v) && v.length > 0) {
    v.forEach((x, i) => { flatten(x, `${prefix}[${i}]`, out) })
  } else if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length > 0) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix === '' ? k : `${prefix}.${k}`, out)
  } else {
    out.set(prefix, v)
  }
}

export function diffJobs (before: unknown, after: unknown): Change[] {
  const a = new Map<string, unknown>()
  const b = new Map<string, unknown>()
  flatten(before, '', a)
  flatten(after, '', b)
  const changes: Change[] = []
  for (const path of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const inA = a.has(path)
    const inB = b.has(path)
    if (inA && !inB) changes.push({ path, kind: 'removed', before: a.get(path) })
    else if (!inA && inB) changes.push({ path, kind: 'added', after: b.get(path) })
    else if (JSON.stringify(a.get(path)) !== JSON.stringify(b.get(path))) changes.push({ path, kind: 'changed', before: a.get(path), after: b.get(path) })
  }
  return changes
}
