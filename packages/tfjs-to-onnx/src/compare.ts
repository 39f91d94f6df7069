import type { GraphTensors, NamedTensors, TensorData } from './tensor-data.ts';

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

/** How one output of a graph model differs from tfjs': float outputs by size, integer and bool outputs exactly. */
export interface OutputDifference {
  readonly name: string;
  readonly dtype: 'float32' | 'int32' | 'bool';
  readonly shape: readonly number[];
  /** Float outputs: largest |a - b|, the same over references of magnitude at most 1, and relative above 1. */
  readonly abs: number;
  readonly absSmall: number;
  readonly relLarge: number;
  /** Float outputs: the largest |reference value| (the output's scale; 0 for integers). */
  readonly largest: number;
  /** Integer and bool outputs: how many values differ (they must all be equal). */
  readonly mismatches: number;
  /** Whether the output is within the tolerance (integers: exactly equal; dtypes and shapes must match). */
  readonly ok: boolean;
  /** Why it cannot be compared value by value (a different dtype or shape). */
  readonly problem?: string;
}

/**
 * Compares a graph model's outputs with tfjs', output by output: float32 outputs within
 * {@link TOLERANCE}, int32 and bool outputs (indices, counts, masks) exactly, shapes equal.
 */
export function compareOutputs(reference: GraphTensors, candidate: GraphTensors): OutputDifference[] {
  return Object.entries(reference).map(([name, ref]) => {
    const got = candidate[name];
    if (!got) throw new Error(`output '${name}' is missing (got ${Object.keys(candidate).join(', ') || 'none'})`);
    const sameShape = got.shape.length === ref.shape.length && got.shape.every((d, i) => d === ref.shape[i]);
    if (!sameShape || got.data.length !== ref.data.length || got.dtype !== ref.dtype) {
      return {
        problem: got.dtype !== ref.dtype ? `ONNX gives ${got.dtype}, tfjs ${ref.dtype}` : `ONNX gives shape [${got.shape.join(',')}]`,
        name,
        dtype: ref.dtype,
        shape: ref.shape,
        abs: Number.POSITIVE_INFINITY,
        absSmall: Number.POSITIVE_INFINITY,
        relLarge: Number.POSITIVE_INFINITY,
        largest: 0,
        mismatches: ref.data.length || 1,
        ok: false,
      };
    }
    if (ref.dtype !== 'float32') {
      let mismatches = 0;
      for (let i = 0; i < ref.data.length; i++) if (Number(ref.data[i]) !== Number(got.data[i])) mismatches++;
      return { name, dtype: ref.dtype, shape: ref.shape, abs: 0, absSmall: 0, relLarge: 0, largest: 0, mismatches, ok: mismatches === 0 };
    }
    const d = difference({ [name]: ref as TensorData }, { [name]: got as TensorData });
    let largest = 0;
    for (const v of ref.data as Float32Array) if (Math.abs(v) > largest) largest = Math.abs(v);
    return { name, dtype: ref.dtype, shape: ref.shape, abs: d.abs, absSmall: d.absSmall, relLarge: d.relLarge, largest, mismatches: 0, ok: withinTolerance(d) };
  });
}
