/** The classes a command can have, and the shorthands the classification tables use. */

export const COMMAND_CLASSES = ['read_only', 'write', 'destructive', 'network', 'privileged', 'unknown'] as const
export type CommandClass = typeof COMMAND_CLASSES[number]

/** Classes with the reason they differ from what the command's name alone would say. */
export interface Verdict {
  classes: readonly CommandClass[]
  reason: string
}

/** What a rule makes of a command's arguments: classes, or classes with a reason. */
export type Outcome = readonly CommandClass[] | Verdict

/** Classes for a command's arguments (argv without the name). */
export type Rule = Outcome | ((args: string[]) => Outcome)

export const R: readonly CommandClass[] = ['read_only']
export const W: readonly CommandClass[] = ['write']
export const D: readonly CommandClass[] = ['destructive']
export const N: readonly CommandClass[] = ['network']
export const P: readonly CommandClass[] = ['privileged']
export const U: readonly CommandClass[] = ['unknown']
export const NW: readonly CommandClass[] = ['network', 'write']
export const DN: readonly CommandClass[] = ['destructive', 'network']

export const verdict = (classes: readonly CommandClass[], reason: string): Verdict => ({ classes, reason })
export const classesOf = (o: Outcome): readonly CommandClass[] => 'classes' in o ? o.classes : o
export const reasonOf = (o: Outcome): string | undefined => 'reason' in o ? o.reason : undefined

/** `o` with `also` added to its classes, its reason kept. */
export function withClasses (o: Outcome, also: readonly CommandClass[]): Outcome {
  if (also.length === 0) return o
  return 'classes' in o ? { classes: [...o.classes, ...also], reason: o.reason } : [...o, ...also]
}

export const applyRule = (rule: Rule, args: string[]): Outcome => typeof rule === 'function' ? rule(args) : rule
