import { z } from 'zod';
import { MODEL_NAME } from '../shared/manifest.ts';
import { badParameter, HttpError } from './errors.ts';

/**
 * Query validation with zod. Every schema's error message is the *expected* value ("integer between 1
 * and 256"); {@link parseQuery} adds the parameter and what was received, sharp-style:
 * "Expected integer between 1 and 256 for n but received 'abc'".
 */

/** An integer parameter in [min, max] (decimal digits only: no signs, exponents or spaces). */
export function intParam(min: number, max: number): z.ZodPipe<z.ZodString, z.ZodTransform<number, string>> {
  const expected = `integer between ${min} and ${max}`;
  return z
    .string({ error: expected })
    .refine((s) => /^\d{1,10}$/.test(s) && Number(s) >= min && Number(s) <= max, { error: expected })
    .transform(Number);
}

/** A model name (what export allows, so no path can be smuggled in), optionally pinned to its content: `dcgan@a6f8cfafe389`. */
export const modelParam = z.string().regex(new RegExp(`${MODEL_NAME.source.slice(0, -1)}(@[0-9a-f]{8,64})?$`), {
  error: "model name (lowercase letters, digits, '-' and '_'), optionally @<sha256 prefix>",
});

/** A digit (0-9) or a range of digits (`0-9`, `3-5`), for conditional models. */
export const digitParam = z
  .string()
  .regex(/^\d(-\d)?$/, { error: 'digit 0-9 or a range such as 0-9' })
  .refine((s) => s.length === 1 || s[0]! <= s[2]!, { error: 'digit 0-9 or an increasing range such as 0-9' });

/** Digits of a /sample grid, and frames of an /interpolate walk, when the query gives none. */
export const DEFAULT_N = 16;
export const DEFAULT_STEPS = 10;

/** GET /sample. */
export const sampleQuery = z.strictObject({
  digit: digitParam.optional(),
  n: intParam(1, 256).optional(),
  seed: intParam(0, 0xffffffff).optional(),
  cols: intParam(1, 256).optional(),
  scale: intParam(1, 8).optional(),
  padding: intParam(0, 32).optional(),
  model: modelParam.optional(),
});
export type SampleQuery = z.infer<typeof sampleQuery>;

/** GET /interpolate. */
export const interpolateQuery = z.strictObject({
  from: intParam(0, 0xffffffff),
  to: intParam(0, 0xffffffff),
  steps: intParam(2, 64).optional(),
  format: z.enum(['png', 'gif', 'webp'], { error: 'one of png, gif, webp' }).optional(),
  scale: intParam(1, 8).optional(),
  padding: intParam(0, 32).optional(),
  delay: intParam(20, 5000).optional(),
  digit: z.string().regex(/^\d$/, { error: 'digit 0-9' }).optional(),
  model: modelParam.optional(),
});

/**
 * Parses a query (every value of every parameter, as `c.req.queries()` gives it) with a schema, turning
 * the first issue into an {@link HttpError}. A parameter given twice is refused: which value counts
 * would be a guess, and a cache would remember the guess.
 */
export function parseQuery<S extends z.ZodType>(schema: S, queries: Record<string, string[]>): z.infer<S> {
  const query: Record<string, string> = {};
  for (const [key, values] of Object.entries(queries)) {
    if (values.length > 1) throw badParameter(key, 'one value', values.join(', '));
    query[key] = values[0] ?? '';
  }
  const result = schema.safeParse(query);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const known = schema instanceof z.ZodObject ? Object.keys(schema.shape).join(', ') : '';
    throw new HttpError(400, `Unknown query parameter '${key}' (expected one of ${known})`, key, `one of ${known}`, key);
  }
  const parameter = String(issue.path[0] ?? '');
  throw badParameter(parameter, issue.message, parameter in query ? (query[parameter] ?? '') : undefined);
}
