/** The classes a command can have, and the shorthands the classification tables use. */

export const COMMAND_CLASSES = ['read_only', 'write', 'destructive', 'network', 'privileged', 'unknown'] as const
export type CommandClass = typeof COMMAND_CLASSES[number]

/** Classes for a command's arguments (argv without the name). */
export type Rule = readonly CommandClass[] | ((args: string[]) => readonly CommandClass[])

export const R: readonly CommandClass[] = ['read_only']
export const W: readonly CommandClass[] = ['write']
export const D: readonly CommandClass[] = ['destructive']
export const N: readonly CommandClass[] = ['network']
export const P: readonly CommandClass[] = ['privileged']
export const U: readonly CommandClass[] = ['unknown']
export const NW: readonly CommandClass[] = ['network', 'write']
export const DN: readonly CommandClass[] = ['destructive', 'network']
