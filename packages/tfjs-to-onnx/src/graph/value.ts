/**
 * Tensors as the graph-model converter tracks them: tfjs' dtype, the logical (TensorFlow) shape with
 * known, named and unknown dimensions, the physical layout of the ONNX tensor (a permutation of the
 * logical axes: convolutions leave channels-first tensors behind, which later element-wise ops keep), and
 * for constants their values.
 */

/** A dimension: a size, the name of a symbolic size (an input's 'batch'), or unknown (null). */
export type Dim = number | string | null;

/** The dtypes tensors have as tfjs runs a graph model (integers are all int32 there). */
export type Dtype = 'float32' | 'int32' | 'bool' | 'string';

/** A constant's values, row-major in the logical layout (bool as 0/1 bytes). */
export type ConstData = Float32Array | Int32Array | Uint8Array | string[];

/** A tensor being converted. */
export interface Value {
  readonly dtype: Dtype;
  /** The logical shape (null: unknown rank). Constants have all sizes known. */
  readonly shape: Dim[] | null;
  /** The ONNX tensor holding it, in layout `perm`; constants get an initializer when first used. */
  readonly name?: string;
  /** physical = transpose(logical, perm); absent = the logical layout. */
  readonly perm?: readonly number[];
  /** A constant's values. */
  readonly data?: ConstData;
  /** For an int32 scalar or vector (a shape being computed): the entries known so far. */
  readonly elems?: readonly Dim[];
  /** A TensorList (TF2 loop state): its items stacked along a new first axis; dtype and shape are the stack's. */
  readonly list?: boolean;
  /** A TensorList made with an unknown element shape: its zeros are made once an item shows the shape. */
  readonly pending?: PendingList;
}

/** The making of a TensorList whose element shape was unknown (-1) where it was reserved. */
export interface PendingList {
  readonly dtype: Dtype;
  /** How many items (TensorListReserve's num_elements; 0 for EmptyTensorList). */
  readonly count: Value | number;
  /** The item shape, once an item written to the list (inside a loop body) showed it. */
  learned?: number[];
  /** The item rank, when an item written to the list showed only that: the list then starts as [count, 1, ..., 1] and grows to the items' shape. */
  learnedRank?: number;
}

/** A Value with its values known. */
export type ConstValue = Value & { readonly data: ConstData; readonly shape: number[] };

export const isConst = (v: Value): v is ConstValue => v.data !== undefined;

/** The integers from `from` up to `to` (exclusive). */
export const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

export const isIdentity = (p: readonly number[] | undefined): boolean => !p || p.every((x, i) => x === i);

export const invert = (p: readonly number[]): number[] => {
  const out = new Array<number>(p.length);
  p.forEach((x, i) => {
    out[x] = i;
  });
  return out;
};

/** The permutation from layout `from` to layout `to` of the same logical tensor (ONNX Transpose perm). */
export function between(from: readonly number[] | undefined, to: readonly number[] | undefined, rank: number): number[] {
  const f = from ?? range(0, rank);
  const t = to ?? range(0, rank);
  const inv = invert(f);
  return t.map((axis) => inv[axis]!);
}

/** The element count of a fully known shape. */
export const count = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The physical shape of a value. */
export function physicalShape(v: Value): Dim[] | null {
  if (!v.shape) return null;
  return v.perm ? v.perm.map((p) => v.shape![p]!) : [...v.shape];
}

/** Transposes row-major values of any element type. */
export function permuteData<T extends ConstData>(data: T, shape: readonly number[], perm: readonly number[]): T {
  if (isIdentity(perm)) return data;
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]!);
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1]! * shape[i + 1]!;
  const n = count(shape);
  const out = (Array.isArray(data) ? new Array<string>(n) : new (data.constructor as new (n: number) => Float32Array)(n)) as T;
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < n; o++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += idx[d]! * strides[perm[d]!]!;
    (out as unknown as number[])[o] = (data as unknown as number[])[src]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < outShape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Broadcasts two shapes as NumPy (and tfjs) do; throws on sizes that cannot broadcast. */
export function broadcast(a: readonly Dim[] | null, b: readonly Dim[] | null): Dim[] | null {
  if (!a || !b) return null;
  const r = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < r; i++) {
    const x = i - (r - a.length) >= 0 ? a[i - (r - a.length)]! : 1;
    const y = i - (r - b.length) >= 0 ? b[i - (r - b.length)]! : 1;
    if (x === y) out.push(x);
    else if (x === 1) out.push(y);
    else if (y === 1) out.push(x);
    else if (typeof x === 'number' && typeof y === 'number') throw new Error(`shapes [${a.map(String)}] and [${b.map(String)}] do not broadcast`);
    else if (typeof x === 'number') out.push(x);
    else if (typeof y === 'number') out.push(y);
    else out.push(null);
  }
  return out;
}

/** Normalises a possibly negative axis against a rank, or throws. */
export function axisOf(axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new Error(`${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

/** A constant's values as plain numbers (bool as 0/1). */
export function numbers(v: ConstValue): number[] {
  if (Array.isArray(v.data)) throw new Error('a string constant where numbers were expected');
  return Array.from(v.data as ArrayLike<number>);
}

/** The typed array of a dtype. */
export function typedArray(dtype: Dtype, values: ArrayLike<number>): Float32Array | Int32Array | Uint8Array {
  if (dtype === 'float32') return Float32Array.from(values);
  if (dtype === 'int32') return Int32Array.from(values, (v) => Math.trunc(v));
  if (dtype === 'bool') return Uint8Array.from(values, (v) => (v ? 1 : 0));
  throw new Error(`no numeric array for dtype ${dtype}`);
}
