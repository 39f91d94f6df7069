/**
 * The one wording of a bad-parameter error, sharp-style: "Expected integer between 1 and 256 for n but
 * received 'abc'". Platform-free: the command line, the HTTP API and the web page all build it here.
 */

/** A value that does not fit a named parameter; the parts stay available for JSON error bodies. */
export class ParameterError extends Error {
  constructor(
    /** What the parameter takes, e.g. "integer between 1 and 256". */
    readonly expected: string,
    /** The parameter as the user wrote it: `--lr`, `PORT`, `n`. */
    readonly parameter: string,
    /** What was given: strings are quoted in the message, other values are shown as they are; undefined means missing. */
    readonly received: string | number | undefined,
  ) {
    super(expectedMessage(expected, parameter, received));
    this.name = 'ParameterError';
  }
}

/** "Expected <expected> for <parameter> but received '<received>'" (or "but it is missing"). */
export function expectedMessage(expected: string, parameter: string, received: string | number | undefined): string {
  const got = received === undefined ? 'it is missing' : typeof received === 'string' ? `received '${received}'` : `received ${received}`;
  return `Expected ${expected} for ${parameter} but ${got}`;
}

/** Builds the error for a parameter; `throw expected('integer between 1 and 256', 'n', raw)`. */
export function expected(what: string, parameter: string, received: string | number | undefined): ParameterError {
  return new ParameterError(what, parameter, received);
}

/** "integer between 0 and 9", "number >= 0", or plain "integer" for the bounds given. */
export function describeRange(kind: 'integer' | 'number', min?: number, max?: number): string {
  if (min !== undefined && max !== undefined) return `${kind} between ${min} and ${max}`;
  if (min !== undefined) return `${kind} >= ${min}`;
  if (max !== undefined) return `${kind} <= ${max}`;
  return kind;
}

/**
 * A request that cannot be carried out as given although each value is well-formed: an unknown flag, a
 * run folder that is not one, a model name already taken. Like a {@link ParameterError} it is the user's
 * to fix, so the command line prints its message as one line, without a stack.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
