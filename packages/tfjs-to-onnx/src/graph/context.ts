import { type AttrValue, DataType, GraphBuilder, int } from '../graph-builder.ts';
import type { TfNode } from './graph-def.ts';
import {
  between,
  type ConstData,
  type ConstValue,
  type Dim,
  type Dtype,
  invert,
  isConst,
  isIdentity,
  numbers,
  permuteData,
  range,
  typedArray,
  type Value,
} from './value.ts';

/** The ONNX element type of a dtype. */
export function onnxType(dtype: Dtype): DataType {
  switch (dtype) {
    case 'float32':
      return DataType.FLOAT;
    case 'int32':
      return DataType.INT32;
    case 'bool':
      return DataType.BOOL;
    default:
      return DataType.STRING;
  }
}

/** What a new value made by an ONNX node is. */
export interface ValueSpec {
  readonly dtype: Dtype;
  readonly shape: Dim[] | null;
  readonly perm?: readonly number[];
  readonly elems?: readonly Dim[];
}

/** A converter's refusal: the node, its op and why (the driver adds the file). */
export class RefusedError extends Error {
  constructor(
    readonly node: string,
    readonly op: string,
    readonly reason: string,
  ) {
    super(`node '${node}' (op ${op}) cannot be converted: ${reason}`);
    this.name = 'RefusedError';
  }
}

/** Converts library functions for control flow (the driver's runner). */
export interface FunctionCaller {
  /** A function applied to values, converted into `ctx`'s graph; its outputs. */
  call(ctx: GraphContext, name: string, args: Value[]): Promise<Value[]>;
  /** For each argument of a function, whether it returns that argument unchanged at the same position. */
  passedThrough(name: string): boolean[];
}

/**
 * What op converters build with: the ONNX graph, the node being converted (for errors and the report),
 * and the helpers that keep layouts, constants and int64 shape tensors consistent. Every tensor name is
 * cached per value and layout, so a tensor is transposed or cast once however many nodes read it.
 */
export class GraphContext {
  readonly g: GraphBuilder;
  /** The node being converted. */
  node: TfNode | undefined;
  /** Notes for the user (deduplicated; a subgraph's context shares its parent's). */
  readonly notes: string[];
  /** Converts the library functions control flow calls. */
  runner: FunctionCaller | undefined;
  private readonly names = new WeakMap<Value, Map<string, string>>();

  constructor(opset: number, g?: GraphBuilder, parent?: GraphContext) {
    this.g = g ?? new GraphBuilder(opset);
    this.notes = parent?.notes ?? [];
    this.runner = parent?.runner;
  }

  /** A context for a subgraph (an If branch, a Loop body): same names, initializers, notes and runner. */
  subgraph(): GraphContext {
    const sub = new GraphContext(this.opset, this.g.body(), this);
    sub.node = this.node;
    return sub;
  }

  get opset(): number {
    return this.g.opset;
  }

  /** A refusal naming the current node. */
  refuse(why: string): RefusedError {
    return new RefusedError(this.node?.name ?? '(graph)', this.node?.op ?? '', why);
  }

  note(text: string): void {
    if (!this.notes.includes(text)) this.notes.push(text);
  }

  private cached(v: Value, key: string, make: () => string): string {
    let m = this.names.get(v);
    if (!m) {
      m = new Map();
      this.names.set(v, m);
    }
    let name = m.get(key);
    if (name === undefined) {
      name = make();
      m.set(key, name);
    }
    return name;
  }

  /** The rank of a value, or a refusal when it is unknown. */
  rank(v: Value, what = 'input'): number {
    if (!v.shape) throw this.refuse(`the rank of its ${what} is unknown (fix the model's input shapes with --input-shape)`);
    return v.shape.length;
  }

  /** The ONNX tensor of a value in a layout (default: the logical one), transposing or permuting a constant as needed. */
  ref(v: Value, perm?: readonly number[]): string {
    if (v.dtype === 'string')
      throw this.refuse('string tensors have no ONNX equivalent here (ONNX string tensors support none of the ops tfjs applies to them)');
    const rank = v.shape?.length ?? 0;
    const want = perm && !isIdentity(perm) ? perm : undefined;
    const key = want ? want.join(',') : '';
    if (isConst(v)) {
      return this.cached(v, key, () => {
        const data = want ? permuteData(v.data, v.shape, want) : v.data;
        const dims = want ? want.map((p) => v.shape[p]!) : v.shape;
        return this.g.initializer(this.constName(), onnxType(v.dtype), data as Float32Array | Int32Array | Uint8Array, dims);
      });
    }
    if (v.name === undefined) throw new Error('internal: a non-constant value without an ONNX tensor');
    const have = v.perm && !isIdentity(v.perm) ? v.perm : undefined;
    if ((have?.join(',') ?? '') === key) return v.name;
    if (!v.shape) throw this.refuse('a tensor of unknown rank would need its layout changed');
    return this.cached(v, key, () => this.g.transpose(v.name!, between(have, want, rank), `${v.name}_t`));
  }

  private constName(): string {
    return `${this.node?.name ?? 'const'}/const`;
  }

  /** The value as an int64 tensor in its logical layout (ONNX shapes, axes, indices). */
  int64(v: Value): string {
    if (isConst(v)) {
      return this.cached(v, 'i64', () => this.g.int64s(`${this.node?.name ?? 'shape'}/i64`, numbers(v), v.shape));
    }
    return this.cached(v, 'i64', () => this.g.op('Cast', [this.ref(v)], { to: int(DataType.INT64) }, `${v.name}_i64`));
  }

  /** A constant value (int32 scalars and vectors also carry their entries as `elems`). */
  constant(dtype: Dtype, data: ArrayLike<number> | ConstData, shape: number[]): ConstValue {
    const typed = Array.isArray(data) && typeof data[0] === 'string' ? (data as string[]) : typedArray(dtype, data as ArrayLike<number>);
    const v: ConstValue = { dtype, shape, data: typed };
    return dtype === 'int32' && shape.length <= 1 ? { ...v, elems: Array.from(typed as Int32Array) } : v;
  }

  scalar(value: number, dtype: Dtype = 'float32'): ConstValue {
    return this.constant(dtype, [value], []);
  }

  /** A value made by a one-output ONNX node. */
  emit(op: string, inputs: string[], attrs: Record<string, AttrValue>, spec: ValueSpec, base = this.node?.name ?? op): Value {
    return { ...spec, name: this.g.op(op, inputs, attrs, base) };
  }

  /** The values made by a multi-output ONNX node. */
  emitN(op: string, inputs: string[], attrs: Record<string, AttrValue>, specs: ValueSpec[], base = this.node?.name ?? op): Value[] {
    const names = this.g.node(op, inputs, attrs, base, specs.length);
    return specs.map((s, i) => ({ ...s, name: names[i]! }));
  }

  /** Cast to another dtype, keeping the layout (and known entries). */
  cast(v: Value, dtype: Dtype): Value {
    if (v.dtype === dtype) return v;
    if (isConst(v) && !Array.isArray(v.data)) {
      const values = Array.from(v.data as ArrayLike<number>);
      return this.constant(dtype, dtype === 'bool' ? values.map((x) => (x !== 0 ? 1 : 0)) : values, v.shape);
    }
    const name = this.cached(v, `cast:${dtype}`, () => this.g.op('Cast', [v.name!], { to: int(onnxType(dtype)) }, `${v.name}_${dtype}`));
    return { dtype, shape: v.shape, name, ...(v.perm ? { perm: v.perm } : {}), ...(dtype === 'int32' && v.elems ? { elems: v.elems } : {}) };
  }

  /** The int64 shape of a value's logical tensor (ONNX Shape of its tensor, reordered), constant when fully known. */
  shapeTensor(v: Value): string {
    if (v.shape?.every((d) => typeof d === 'number')) return this.g.int64Const(v.shape as number[]);
    return this.cached(v, 'shape', () => {
      if (isConst(v) || isIdentity(v.perm)) return this.g.op('Shape', [this.ref(v)], {}, `${v.name ?? 'x'}_shape`);
      const physical = this.g.op('Shape', [v.name!], {}, `${v.name}_shape`);
      return this.g.op('Gather', [physical, this.g.int64Const(invert(v.perm!))], { axis: int(0) }, `${v.name}_shape`);
    });
  }

  /** One dimension of a value as an int64 [1] tensor. */
  dimTensor(v: Value, axis: number): string {
    const d = v.shape?.[axis];
    if (typeof d === 'number') return this.g.int64Const([d]);
    return this.cached(v, `dim${axis}`, () =>
      this.g.op('Slice', [this.shapeTensor(v), this.g.int64Const([axis]), this.g.int64Const([axis + 1])], {}, `${v.name ?? 'x'}_dim${axis}`),
    );
  }

  /** An int64 vector of known sizes and int64 [1] tensors (in order), constant when all are known. */
  vector(parts: readonly (number | { tensor: string })[]): string {
    if (parts.every((p) => typeof p === 'number')) return this.g.int64Const(parts as number[]);
    const pieces: string[] = [];
    let run: number[] = [];
    for (const p of parts) {
      if (typeof p === 'number') run.push(p);
      else {
        if (run.length) pieces.push(this.g.int64Const(run));
        run = [];
        pieces.push(p.tensor);
      }
    }
    if (run.length) pieces.push(this.g.int64Const(run));
    return pieces.length === 1 ? pieces[0]! : this.g.op('Concat', pieces, { axis: int(0) }, 'shape');
  }

  /** A value's shape as parts for {@link vector}: known sizes as numbers, others read from the tensor. */
  shapeParts(v: Value): (number | { tensor: string })[] {
    return (v.shape ?? []).map((d, i) => (typeof d === 'number' ? d : { tensor: this.dimTensor(v, i) }));
  }

  /** The values of a constant input as numbers, or a refusal naming what must be constant. */
  constNumbers(v: Value, what: string): number[] {
    if (!isConst(v)) throw this.refuse(`its ${what} must be a constant (here it is computed when the model runs)`);
    return numbers(v);
  }

  /** A value in the logical layout. */
  logical(v: Value): Value {
    if (isIdentity(v.perm)) return v;
    return { dtype: v.dtype, shape: v.shape, name: this.ref(v), ...(v.elems ? { elems: v.elems } : {}) };
  }

  /** A value in a given layout (a rank-`perm.length` tensor). */
  inLayout(v: Value, perm: readonly number[] | undefined): Value {
    if (isConst(v)) return v;
    const p = perm && !isIdentity(perm) ? perm : undefined;
    if ((v.perm && !isIdentity(v.perm) ? v.perm.join(',') : '') === (p?.join(',') ?? '')) return v;
    return { dtype: v.dtype, shape: v.shape, name: this.ref(v, p), ...(p ? { perm: p } : {}) };
  }

  /** The logical transpose of a value: the same ONNX tensor seen in a new layout (free), or a permuted constant. */
  transposed(v: Value, q: readonly number[]): Value {
    if (isConst(v))
      return this.constant(
        v.dtype,
        permuteData(v.data, v.shape, q),
        q.map((p) => v.shape[p]!),
      );
    const inv = invert(q);
    const perm = (v.perm ?? range(0, q.length)).map((a) => inv[a]!);
    return { dtype: v.dtype, shape: v.shape ? q.map((p) => v.shape![p]!) : null, name: v.name!, ...(isIdentity(perm) ? {} : { perm }) };
  }

  /** The identity permutation of a rank. */
  static identity(rank: number): number[] {
    return range(0, rank);
  }
}
