import { isValidId } from '@ticks/core'

/**
 * The names the server accepts for users (core's id rule, which its `ID` schema follows): checked
 * in the forms, so a typo is explained in words before the server answers with its pattern.
 */

export const NAME_RULE = 'Names use letters, digits and . _ ~ @ - only (no spaces), up to 128 characters.'

export const isValidName = (name: string): boolean => isValidId(name)
