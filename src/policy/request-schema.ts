/** The shape of a check request: used by the HTTP route and by policy test suites alike. */

const printable = '^[\\x21-\\x7e]+$'
/** Tenant ids, risk tags and label names: one vocabulary wherever they are accepted. */
export const NAME_PATTERN = '^[A-Za-z0-9_.:/@+-]+$'
export const nameSchema = { type: 'string', minLength: 1, maxLength: 128, pattern: NAME_PATTERN } as const
/** A topic or principal glob, as a policy file writes one (policy.schema.json's `glob`). */
export const globSchema = { type: 'string', minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9_:*/@+-]+(\\.[A-Za-z0-9_:*/@+-]+)*$' } as const
const name = nameSchema

export const checkRequestSchema = {
  $id: 'CheckRequest',
  type: 'object',
  required: ['job_id', 'topic'],
  additionalProperties: false,
  properties: {
    job_id: { type: 'string', minLength: 1, maxLength: 256, pattern: printable },
    topic: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9_:/@+-]+(\\.[A-Za-z0-9_:/@+-]+)*$' },
    tenant_id: name,
    principal_id: { type: 'string', minLength: 1, maxLength: 256, pattern: printable },
    session_id: { type: 'string', minLength: 1, maxLength: 256, pattern: printable },
    trace_id: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.:-]+$' },
    risk_tags: { type: 'array', maxItems: 64, items: name },
    labels: {
      type: 'object',
      maxProperties: 64,
      propertyNames: name,
      additionalProperties: { type: 'string', maxLength: 256 }
    },
    command: { type: 'string', minLength: 1, maxLength: 16384 },
    cwd: { type: 'string', minLength: 1, maxLength: 4096 },
    args: { type: 'object' },
    evidence: { type: 'object' },
    priority: { type: 'integer', minimum: 0, maximum: 1000000 },
    budget: { type: 'object', maxProperties: 32, additionalProperties: { type: 'number', minimum: 0 } }
  }
} as const
