/** The roles a key can hold. Vocabulary shared by auth, the key store and the routes. */
export const ROLES = ['scheduler', 'reviewer', 'auditor', 'admin'] as const
export type Role = typeof ROLES[number]

/**
 * Who holds a key: a person, or a service (an agent, a scheduler, a pipeline). Only a person's
 * key may vote on approvals or make grants, whatever its roles: the system says who may approve,
 * not the key that would approve.
 */
export const KEY_KINDS = ['person', 'service'] as const
export type KeyKind = typeof KEY_KINDS[number]
/** What a key is when nobody says. */
export const DEFAULT_KEY_KIND: KeyKind = 'service'
