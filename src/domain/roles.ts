/** The roles a key can hold. Vocabulary shared by auth, the key store and the routes. */
export const ROLES = ['scheduler', 'reviewer', 'auditor', 'admin'] as const
export type Role = typeof ROLES[number]
