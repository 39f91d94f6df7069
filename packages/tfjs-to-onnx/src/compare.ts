import type { NamedTensors } from './tensor-data.ts';

/** How far one set of outputs is from a reference. */
export interface Difference {
  /** Largest |a - b| over all values. */
  readonly abs: number;
  /** Largest |a - b| over values whose reference is at most 1 in magnitude. */
  readonly absSmall: number;
  /** Largest |a - b| / |reference| over values whose reference is larger than 1. */
  readonly relLarge: number;
  /** The output with the largest absolute difference. */
  readonly output: string;
}

/**
 * Compares outputs with a reference, output by output (same names, same sizes): the absolute
 * difference, and separately the relative one where the reference is larger than 1, which is how
 * tfjs-to-onnx states its conversion tolerance (1e-5 absolute, or 1e-4 relative above 1).
 */
export function difference(reference: NamedTensors, candidate: NamedTensors): Difference {
  let abs = 0;
  let absSmall = 0;
  let relLarge = 0;
  let output = '';
  for (const [name, ref] of Object.entries(reference)) {
    const got = candidate[name];
    if (!got) throw new Error(`output '${name}' is missing (got ${Object.keys(candidate).join(', ') || 'none'})`);
    if (got.data.length !== ref.data.length) throw new Error(`output '${name}': ${got.data.length} values, expected ${ref.data.length}`);
    for (let i = 0; i < ref.data.length; i++) {
      const r = ref.data[i]!;
      const d = Math.abs(got.data[i]! - r);
      if (Number.isNaN(d) && !(Number.isNaN(r) && Number.isNaN(got.data[i]!)))
        return { abs: Number.POSITIVE_INFINITY, absSmall: Number.POSITIVE_INFINITY, relLarge: Number.POSITIVE_INFINITY, output: name };
      if (d > abs) {
        abs = d;
        output = name;
      }
      if (Math.abs(r) > 1) relLarge = Math.max(relLarge, d / Math.abs(r));
      else absSmall = Math.max(absSmall, d);
    }
  }
  return { abs, absSmall, relLarge, output };
}

/** The conversion tolerance: 1e-5 absolute, or 1e-4 relative for values larger than 1. */
export const TOLERANCE = { abs: 1e-5, rel: 1e-4 } as const;

/** Whether a {@link difference} is within {@link TOLERANCE}. */
export function withinTolerance(d: Difference): boolean {
  return d.absSmall <= TOLERANCE.abs && (d.relLarge <= TOLERANCE.rel || d.abs <= TOLERANCE.abs);
}
