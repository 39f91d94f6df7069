/**
 * The wording of a bad-parameter error, sharp-style: "Expected integer between 13 and 26 for --opset but
 * received '27'". tfjs-to-onnx's own copy: the package depends on nothing of the project it came from.
 */

/** A value that does not fit a named parameter (a flag, an option, a field of model.json); the parts stay available. */
export class ParameterError extends Error {
  constructor(
    /** What the parameter takes, e.g. "integer between 13 and 26". */
    readonly expected: string,
    /** The parameter as the user wrote it: `--opset`, `maxParameters`, `weightsManifest[0].paths[0] in m/model.json`. */
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

/** Builds the error for a parameter; `throw expected('integer between 13 and 26', '--opset', raw)`. */
export function expected(what: string, parameter: string, received: string | number | undefined): ParameterError {
  return new ParameterError(what, parameter, received);
}

/** "integer between 0 and 9", "integer >= 0", or plain "integer" for the bounds given. */
export function describeRange(kind: 'integer' | 'number', min?: number, max?: number): string {
  if (min !== undefined && max !== undefined) return `${kind} between ${min} and ${max}`;
  if (min !== undefined) return `${kind} >= ${min}`;
  if (max !== undefined) return `${kind} <= ${max}`;
  return kind;
}
