/** Kinds of job violation (a job reported running without an ALLOW that covers it): the `kind` of a `job.violation` record. */
export const VIOLATION_KINDS = ['ran_without_allow', 'allow_already_used'] as const
export type ViolationKind = typeof VIOLATION_KINDS[number]
