/**
 * The schema registry. Each resource's module holds its routes' schemas; the ones below are
 * registered on the app once, by `$id`, and referenced as `Name#`. openapi.yaml states each of
 * them under components/schemas, and test/routes/openapi.test.ts holds the two to each other.
 */
import { approvalSchema, approvalStateSchema } from './approvals.js'
import { checkpointSchema } from './audit.js'
import { checkRequestSchema, commandSummarySchema, constraintsSchema, decisionSchema, simulationSchema, unrecordedDenySchema } from './check.js'
import { errorSchema } from './common.js'
import { grantSchema } from './grants.js'

export const SHARED_SCHEMAS = [
  constraintsSchema,
  commandSummarySchema,
  approvalStateSchema,
  errorSchema,
  checkRequestSchema,
  decisionSchema,
  simulationSchema,
  unrecordedDenySchema,
  checkpointSchema,
  approvalSchema,
  grantSchema
] as const
