/** The probes: /health (the process answers) and /ready (database and policy are there). */
import { closedObject, errorReplies, sha256Id } from './common.js'

export const healthRoute = {
  response: { 200: closedObject({ status: { type: 'string', const: 'ok' } }, ['status']) }
} as const

export const readyRoute = {
  response: {
    200: closedObject({ status: { type: 'string', const: 'ready' }, policy_snapshot: sha256Id }, ['status', 'policy_snapshot']),
    ...errorReplies(503)
  }
} as const
