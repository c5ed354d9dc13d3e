/**
 * The names the server accepts for users (its `ID` schema): checked in the forms, so a typo is
 * explained in words before the server answers with its pattern.
 */
const NAME = /^[A-Za-z0-9._~@-]{1,128}$/

export const NAME_RULE = 'Names use letters, digits and . _ ~ @ - only (no spaces), up to 128 characters.'

export const isValidName = (name: string): boolean => NAME.test(name)
