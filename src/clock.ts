import { randomUUID } from 'node:crypto'

/** The time source and id generator, injected so tests can pin them. */
export interface Clock {
  now: () => Date
}

export interface IdGenerator {
  decisionId: () => string
  approvalId: () => string
  grantId: () => string
}

export const systemClock: Clock = { now: () => new Date() }

export const randomIds: IdGenerator = {
  decisionId: () => randomUUID(),
  approvalId: () => randomUUID(),
  grantId: () => randomUUID()
}
