import { type AttrValue, DataType, int } from '../../graph-builder.ts';
import type { GraphContext } from '../context.ts';
import { axisOf, broadcast, count, type Dim, type Dtype, isConst, isIdentity, numbers, range, type Value } from '../value.ts';
import { elementwiseOp, input, type OpConverter, promote } from './common.ts';
import { attrDtype } from './math.ts';

/** Shapes, slicing, joining, padding, gathering and creating tensors. */

/** ONNX Slice's "to the end" and "to before the start" (clamped by ONNX to the axis). */
const INT_MAX = 2 ** 62;
const INT_MIN = -(2 ** 62);

/** The layout left after removing logical axes from a tensor in layout `perm`. */
export function dropAxes(perm: readonly number[] | undefined, _rank: number, axes: readonly number[]): number[] | undefined {
  if (isIdentity(perm)) return undefined;
  const removed = new Set(axes);
  const kept = perm!.filter((a) => !removed.has(a)).map((a) => a - axes.filter((r) => r < a).length);
  return isIdentity(kept) || kept.length === 0 ? undefined : kept;
}

const withPerm = (perm: readonly number[] | undefined): { perm?: readonly number[] } => (perm && !isIdentity(perm) ? { perm } : {});

/** Shape: int32 as tfjs makes it; a constant when fully known, else ONNX Shape with the known sizes tracked. */
const shapeOf = (ctx: GraphContext, x: Value): Value => {
  if (x.shape?.every((d) => typeof d === 'number')) return ctx.constant('int32', x.shape as number[], [x.shape.length]);
  const name = ctx.g.op('Cast', [ctx.shapeTensor(x)], { to: int(DataType.INT32) }, `${ctx.node!.name}`);
  return { dtype: 'int32', shape: [x.shape ? x.shape.length : null], name, ...(x.shape ? { elems: x.shape } : {}) };
};

/** Reshape's output shape: the target with -1 resolved when the sizes (or named sizes) allow. */
export function reshapeTarget(input: Dim[] | null, target: readonly Dim[]): Dim[] {
  const out = target.map((d) => (d === -1 ? -1 : d));
  const hole = out.indexOf(-1);
  if (hole < 0) return out;
  out[hole] = null;
  if (!input || input.includes(null) || target.some((d, i) => i !== hole && (d === null || (typeof d === 'number' && d < 0)))) return out;
  const names = input.filter((d): d is string => typeof d === 'string');
  for (const d of target) {
    if (typeof d !== 'string') continue;
    const at = names.indexOf(d);
    if (at < 0) return out;
    names.splice(at, 1);
  }
  const inSize = count(input.filter((d): d is number => typeof d === 'number'));
  const known = count(target.filter((d, i): d is number => i !== hole && typeof d === 'number'));
  // [batch, 3, 4] to [-1, 12]: the hole is the one named size left over.
  if (names.length === 1 && known === inSize) out[hole] = names[0]!;
  else if (names.length === 0 && known > 0 && inSize % known === 0) out[hole] = inSize / known;
  return out;
}

const reshape: OpConverter = (ctx, _node, inputs) => {
  const x = input(ctx, inputs, 0);
  const target = input(ctx, inputs, 1, 'shape');
  const elems = target.elems ?? (target.shape?.length === 1 && typeof target.shape[0] === 'number' ? new Array<Dim>(target.shape[0]).fill(null) : null);
  if (isConst(target) && numbers(target).includes(0) && ctx.opset < 14) {
    throw ctx.refuse('a shape with a 0 size: ONNX Reshape reads 0 as "copy this size" before opset 14 (write opset 14 or newer)');
  }
  const attrs: Record<string, AttrValue> = ctx.opset >= 14 ? { allowzero: int(1) } : {};
  const shape = elems ? reshapeTarget(x.shape, elems) : null;
  const out = ctx.emit('Reshape', [ctx.ref(x), ctx.int64(target)], attrs, { dtype: x.dtype, shape });
  return [x.elems && shape && shape.length <= 1 ? { ...out, elems: x.elems } : out];
};

/** The axes Squeeze removes: the listed ones (squeeze_dims in older graphs), or every size-1 axis. */
const squeeze: OpConverter = (ctx, node, inputs) => {
  const x = input(ctx, inputs, 0);
  const listed = node.ints('squeeze_dims') ?? node.ints('axis') ?? [];
  if (listed.length === 0) {
    if (!x.shape || x.shape.some((d) => typeof d !== 'number')) {
      ctx.note('a Squeeze of every size-1 axis on a tensor of unknown sizes: its output rank is only known when the model runs');
      return [ctx.emit('Squeeze', [ctx.ref(x)], {}, { dtype: x.dtype, shape: null })];
    }
  }
  const r = ctx.rank(x);
  const axes = (listed.length ? listed.map((a) => axisOf(a, r)) : x.shape!.flatMap((d, i) => (d === 1 ? [i] : []))).sort((a, b) => a - b);
  for (const a of axes) if (typeof x.shape![a] === 'number' && x.shape![a] !== 1) throw ctx.refuse(`it squeezes axis ${a} of size ${x.shape![a]}`);
  if (axes.length === 0) return [x];
  const shape = x.shape!.filter((_, i) => !axes.includes(i));
  const phys = axes.map((a) => (x.perm ? x.perm.indexOf(a) : a)).sort((a, b) => a - b);
  const out = ctx.emit('Squeeze', [ctx.ref(x, x.perm), ctx.g.int64Const(phys)], {}, { dtype: x.dtype, shape, ...withPerm(dropAxes(x.perm, r, axes)) });
  return [x.elems ? { ...out, elems: x.elems } : out];
};

const expandDims: OpConverter = (ctx, _node, inputs) => {
  const x = input(ctx, inputs, 0);
  const r = ctx.rank(x);
  const axis = axisOf(ctx.constNumbers(input(ctx, inputs, 1, 'axis'), 'axis')[0]!, r + 1);
  const shape = [...x.shape!.slice(0, axis), 1, ...x.shape!.slice(axis)];
  const out = ctx.emit('Unsqueeze', [ctx.ref(x), ctx.g.int64Const([axis])], {}, { dtype: x.dtype, shape });
  return [x.elems ? { ...out, elems: x.elems } : out];
};

const transpose: OpConverter = (ctx, _node, inputs) => {
  const x = input(ctx, inputs, 0);
  const r = ctx.rank(x);
  const perm = inputs[1] ? ctx.constNumbers(inputs[1], 'perm') : range(0, r).reverse();
  if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) throw ctx.refuse(`perm [${perm}] is not a permutation of rank ${r}`);
  return [ctx.transposed(x, perm)];
};

/**
 * Concatenation in the layout that needs the fewest transposes (all inputs share it; constants are
 * permuted for free), with the known entries of shape vectors kept.
 */
function concat(ctx: GraphContext, parts: Value[], axisValue: number): Value {
  if (parts.length === 0) throw ctx.refuse('it concatenates nothing');
  const t = promote(...parts.map((v) => v.dtype));
  const ins = parts.map((v) => ctx.cast(v, t));
  const r = ctx.rank(ins[0]!);
  if (ins.some((v) => v.shape?.length !== r)) throw ctx.refuse('it concatenates tensors of different or unknown ranks');
  const axis = axisOf(axisValue, r);
  if (ins.length === 1) return ins[0]!;
  const layouts: (readonly number[] | undefined)[] = [undefined];
  for (const v of ins) if (!isConst(v) && !isIdentity(v.perm) && !layouts.some((l) => l?.join() === v.perm!.join())) layouts.push(v.perm);
  const cost = (p: readonly number[] | undefined): number =>
    ins.filter((v) => !isConst(v) && (isIdentity(v.perm) ? '' : v.perm!.join()) !== (p?.join() ?? '')).length;
  let best = layouts[0];
  for (const l of layouts.slice(1)) if (cost(l) <= cost(best)) best = l;
  const shape = ins[0]!.shape!.map((d, i) => {
    if (i !== axis) return ins.map((v) => v.shape![i]!).find((e) => typeof e === 'number') ?? d;
    return ins.every((v) => typeof v.shape![i] === 'number') ? ins.reduce((s, v) => s + (v.shape![i] as number), 0) : null;
  });
  const out = ctx.emit(
    'Concat',
    ins.map((v) => ctx.ref(v, best)),
    { axis: int(best ? best.indexOf(axis) : axis) },
    { dtype: t, shape, ...withPerm(best) },
  );
  if (r === 1 && ins.every((v) => v.elems)) return { ...out, elems: ins.flatMap((v) => [...v.elems!]) };
  return out;
}

const concatV2: OpConverter = (ctx, node, inputs) => {
  const axis = ctx.constNumbers(input(ctx, inputs, inputs.length - 1, 'axis'), 'axis')[0]!;
  const n = node.int('N', inputs.length - 1);
  return [concat(ctx, inputs.slice(0, Math.min(n, inputs.length - 1)), axis)];
};

const concatV1: OpConverter = (ctx, node, inputs) => {
  const axis = ctx.constNumbers(input(ctx, inputs, 0, 'axis'), 'axis')[0]!;
  const n = node.int('N', inputs.length - 1);
  return [concat(ctx, inputs.slice(1, 1 + Math.min(n, inputs.length - 1)), axis)];
};

/** Pack (tf.stack): each input gains the axis, then they are concatenated along it. */
const pack: OpConverter = (ctx, node, inputs) => {
  const n = node.int('N', inputs.length);
  const parts = inputs.slice(0, n);
  if (parts.length === 0) throw ctx.refuse('it stacks nothing');
  const t = promote(...parts.map((v) => v.dtype));
  const first = parts[0]!;
  const r = ctx.rank(first);
  const axis = axisOf(node.int('axis', 0), r + 1);
  if (parts.every((v) => isConst(v)) && r === 0) {
    return [
      ctx.constant(
        t,
        parts.map((v) => numbers(v as never)[0]!),
        [parts.length],
      ),
    ];
  }
  const expanded = parts.map((v) => {
    const c = ctx.cast(v, t);
    if (ctx.rank(c) !== r) throw ctx.refuse('it stacks tensors of different ranks');
    const shape = [...c.shape!.slice(0, axis), 1, ...c.shape!.slice(axis)];
    if (isConst(c)) return { ...ctx.constant(t, c.data as Float32Array, shape as number[]) };
    const name = ctx.g.unsqueeze(ctx.ref(c), [axis], `${c.name}_stacked`);
    return { dtype: t, shape, name, ...(r === 0 && c.elems ? { elems: c.elems } : {}) } as Value;
  });
  return [concat(ctx, expanded, axis)];
};

/** Unpack (tf.unstack): a Split along the axis (in the input's layout), each piece squeezed. */
const unpack: OpConverter = (ctx, node, inputs) => {
  const x = input(ctx, inputs, 0);
  const r = ctx.rank(x);
  const axis = axisOf(node.int('axis', 0), r);
  const d = x.shape![axis];
  const num = typeof d === 'number' ? d : node.int('num', 0);
  if (!num) throw ctx.refuse('the size of the unstacked axis must be known');
  const p = x.perm ? x.perm.indexOf(axis) : axis;
  const shape = x.shape!.filter((_, i) => i !== axis);
  const perm = withPerm(dropAxes(x.perm, r, [axis]));
  const pieces =
    num === 1
      ? [ctx.ref(x, x.perm)]
      : ctx.g.node('Split', [ctx.ref(x, x.perm), ctx.g.int64Const(new Array<number>(num).fill(1))], { axis: int(p) }, ctx.node!.name, num);
  return pieces.map((piece, i) => {
    const out = ctx.emit('Squeeze', [piece, ctx.g.int64Const([p])], {}, { dtype: x.dtype, shape, ...perm });
    return x.elems && r === 1 ? { ...out, elems: [x.elems[i]!] } : out;
  });
};

/** Split into sizes along an axis, in the input's layout. */
function splitInto(ctx: GraphContext, x: Value, axis: number, sizes: number[] | null, n: number): Value[] {
  const r = ctx.rank(x);
  const p = x.perm ? x.perm.indexOf(axis) : axis;
  const ins = [ctx.ref(x, x.perm)];
  const attrs: Record<string, AttrValue> = { axis: int(p) };
  if (sizes) ins.push(ctx.g.int64Const(sizes));
  else if (ctx.opset >= 18) attrs.num_outputs = int(n);
  const names = ctx.g.node('Split', ins, attrs, ctx.node!.name, n);
  let offset = 0;
  return names.map((name, i) => {
    const shape = x.shape!.map((d, k) => (k === axis ? (sizes ? sizes[i]! : null) : d));
    const out: Value = { dtype: x.dtype, shape, name, ...withPerm(x.perm) };
    const size = sizes?.[i] ?? 0;
    const elems = r === 1 && x.elems && sizes ? x.elems.slice(offset, offset + size) : undefined;
    offset += size;
    return elems ? { ...out, elems } : out;
  });
}

const split: OpConverter = (ctx, node, inputs) => {
  const x = input(ctx, inputs, 1);
  const r = ctx.rank(x);
  const axis = axisOf(ctx.constNumbers(input(ctx, inputs, 0, 'axis'), 'axis')[0]!, r);
  const n = node.int('num_split', 1);
  const d = x.shape![axis];
  if (typeof d === 'number' && d % n !== 0) throw ctx.refuse(`axis ${axis} of size ${d} does not split into ${n} equal parts`);
  return splitInto(ctx, x, axis, typeof d === 'number' ? new Array<number>(n).fill(d / n) : null, n);
};

const splitV: OpConverter = (ctx, _node, inputs) => {
  const x = input(ctx, inputs, 0);
  const r = ctx.rank(x);
  const sizes = ctx.constNumbers(input(ctx, inputs, 1, 'size_splits'), 'size_splits');
  const axis = axisOf(ctx.constNumbers(input(ctx, inputs, 2, 'axis'), 'axis')[0]!, r);
  const hole = sizes.indexOf(-1);
  if (hole >= 0) {
    const d = x.shape![axis];
    if (typeof d !== 'number') throw ctx.refuse('a -1 split size on an axis of unknown size');
    sizes[hole] = d - sizes.reduce((s, v, i) => (i === hole ? s : s + v), 0);
  }
  return splitInto(ctx, x, axis, sizes, sizes.length);
};

/** Slice(x, begin, size): ONNX Slice (size -1: to the end), on the input's layout when begin and size are constants. */
const slice: OpConverter = (ctx, _node, inputs) => {
  const x = input(ctx, inputs, 0);
  const begin = input(ctx, inputs, 1, 'begin');
  const size = input(ctx, inputs, 2, 'size');
  const r = ctx.rank(x);
  if (isConst(begin) && isConst(size)) {
    const b = numbers(begin);
    const s = numbers(size);
    if (b.length !== r || s.length !== r) throw ctx.refuse(`begin and size must have ${r} entries`);
    const axes = range(0, r).filter((i) => !(b[i] === 0 && (s[i] === -1 || s[i] === x.shape![i])));
    const shape = x.shape!.map((d, i) => (s[i] === -1 ? (typeof d === 'number' ? d - b[i]! : null) : s[i]!));
    if (x.elems && r === 1) {
      const e = x.elems.slice(b[0], s[0] === -1 ? undefined : b[0]! + s[0]!);
      if (axes.length === 0) return [x];
      const out = ctx.emit(
        'Slice',
        [ctx.ref(x), ctx.g.int64Const([b[0]!]), ctx.g.int64Const([s[0] === -1 ? INT_MAX : b[0]! + s[0]!])],
        {},
        { dtype: x.dtype, shape },
      );
      return [{ ...out, elems: e }];
    }
    if (axes.length === 0) return [x];
    const phys = axes.map((a) => (x.perm ? x.perm.indexOf(a) : a));
    return [
      ctx.emit(
        'Slice',
        [
          ctx.ref(x, x.perm),
          ctx.g.int64Const(axes.map((a) => b[a]!)),
          ctx.g.int64Const(axes.map((a) => (s[a] === -1 ? INT_MAX : b[a]! + s[a]!))),
          ctx.g.int64Const(phys),
        ],
        {},
        { dtype: x.dtype, shape, ...withPerm(x.perm) },
      ),
    ];
  }
  const b = ctx.int64(begin);
  const s = ctx.int64(size);
  const ends = ctx.g.op('Where', [ctx.g.op('Equal', [s, ctx.g.int64Const([-1])]), ctx.g.int64Const([INT_MAX]), ctx.g.op('Add', [b, s])]);
  return [ctx.emit('Slice', [ctx.ref(x), b, ends], {}, { dtype: x.dtype, shape: x.shape!.map(() => null) })];
};

/** One axis of StridedSlice's dense spec. */
interface DenseAxis {
  /** Index into begin/end/strides, or -1 for an axis the ellipsis covers. */
  readonly sparse: number;
  readonly beginMasked: boolean;
  readonly endMasked: boolean;
  readonly shrink: boolean;
}

/**
 * StridedSlice's masks as TensorFlow reads them (strided_slice_op.cc BuildDenseSpec): an ellipsis (at
 * the end when none is given) covers the axes not named, new axes add size-1 axes, shrunk axes go.
 * Returns the dense spec per input axis and the output's axes: an input axis index, or 'new'.
 */
function denseSpec(
  ctx: GraphContext,
  rank: number,
  sparseDims: number,
  masks: { begin: number; end: number; ellipsis: number; newAxis: number; shrink: number },
): { axes: DenseAxis[]; final: (number | 'new')[] } {
  let ellipsis = masks.ellipsis;
  let dims = sparseDims;
  if (ellipsis & (ellipsis - 1)) throw ctx.refuse('more than one ellipsis in its ellipsis_mask');
  let seen = false;
  let newAfter = 0;
  for (let i = 0; i < dims; i++) {
    if (seen && (1 << i) & masks.newAxis) newAfter++;
    if ((1 << i) & ellipsis) seen = true;
  }
  if (!seen) {
    ellipsis |= 1 << dims;
    dims++;
  }
  const axes: DenseAxis[] = [];
  const final: (number | 'new')[] = [];
  for (let i = 0; i < dims; i++) {
    if ((1 << i) & ellipsis) {
      const next = Math.min(rank - (dims - i) + 1 + newAfter, rank);
      while (axes.length < next) {
        final.push(axes.length);
        axes.push({ sparse: -1, beginMasked: true, endMasked: true, shrink: false });
      }
    } else if ((1 << i) & masks.newAxis) {
      final.push('new');
    } else {
      if (axes.length === rank) throw ctx.refuse(`its slice names more axes than its input's ${rank}`);
      const shrink = ((1 << i) & masks.shrink) !== 0;
      if (!shrink) final.push(axes.length);
      axes.push({ sparse: i, beginMasked: ((1 << i) & masks.begin) !== 0, endMasked: ((1 << i) & masks.end) !== 0, shrink });
    }
  }
  while (axes.length < rank) {
    final.push(axes.length);
    axes.push({ sparse: -1, beginMasked: true, endMasked: true, shrink: false });
  }
  return { axes, final };
}

/** The canonical begin, end and output size of one axis of known size (TF's canonical()). */
function canonicalAxis(dim: number, begin: number, end: number, stride: number, a: DenseAxis): { b: number; e: number; size: number } {
  if (a.shrink) {
    const b = begin < 0 ? dim + begin : begin;
    return { b, e: b + 1, size: 1 };
  }
  const lo = stride > 0 ? 0 : -1;
  const hi = stride > 0 ? dim : dim - 1;
  const canon = (x: number, masked: boolean, c: 0 | 1): number => {
    if (masked) return stride > 0 ? [lo, hi][c]! : [lo, hi][(c + 1) & 1]!;
    const fwd = x < 0 ? dim + x : x;
    return fwd < lo ? lo : Math.min(fwd, hi);
  };
  const b = canon(begin, a.beginMasked, 0);
  const e = canon(end, a.endMasked, 1);
  const len = e - b;
  const size = len === 0 || len < 0 !== stride < 0 ? 0 : Math.trunc(len / stride) + (len % stride !== 0 ? 1 : 0);
  return { b, e, size };
}

/**
 * StridedSlice with every mask, as TensorFlow (and tfjs' stridedSlice) define it: ONNX Slice over the
 * axes that are cut (in the input's layout when no axis is added), Squeeze for shrunk axes, Unsqueeze
 * for new ones. Begin and end may be computed when the model runs; strides must be constants.
 */
const stridedSlice: OpConverter = (ctx, node, inputs) => {
  const x = input(ctx, inputs, 0);
  const beginV = input(ctx, inputs, 1, 'begin');
  const endV = input(ctx, inputs, 2, 'end');
  const strides = ctx.constNumbers(input(ctx, inputs, 3, 'strides'), 'strides');
  const r = ctx.rank(x);
  const masks = {
    begin: node.int('begin_mask', 0),
    end: node.int('end_mask', 0),
    ellipsis: node.int('ellipsis_mask', 0),
    newAxis: node.int('new_axis_mask', 0),
    shrink: node.int('shrink_axis_mask', 0),
  };
  const { axes, final } = denseSpec(ctx, r, strides.length, masks);
  if (strides.some((s) => s === 0)) throw ctx.refuse('a stride of 0');
  for (const a of axes)
    if (a.shrink && strides[a.sparse]! < 0) throw ctx.refuse('a shrunk axis with a negative stride (TensorFlow allows only stride 1 there)');
  const constant = isConst(beginV) && isConst(endV);
  const begin = isConst(beginV) ? numbers(beginV) : null;
  const end = isConst(endV) ? numbers(endV) : null;
  const stride = (a: DenseAxis): number => (a.sparse < 0 ? 1 : strides[a.sparse]!);
  // Per input axis: skipped (whole axis), or its ONNX starts/ends/steps and output size.
  const sliced: { axis: number; start: number | string; end: number | string; step: number }[] = [];
  const sizes: Dim[] = [];
  axes.forEach((a, i) => {
    const dim = x.shape![i]!;
    const st = stride(a);
    const whole = a.sparse < 0 || (a.beginMasked && a.endMasked && st === 1);
    if (whole) {
      sizes.push(dim);
      return;
    }
    if (constant && typeof dim === 'number') {
      const c = canonicalAxis(dim, begin![a.sparse]!, end![a.sparse]!, st, a);
      if (a.shrink && (c.b < 0 || c.b >= dim)) throw ctx.refuse(`slice index ${begin![a.sparse]} is out of bounds for axis ${i} of size ${dim}`);
      sizes.push(c.size);
      if (c.b === 0 && c.e === dim && st === 1) return;
      if (c.size === 0) {
        sliced.push({ axis: i, start: 0, end: 0, step: 1 });
        return;
      }
      sliced.push({ axis: i, start: c.b, end: st < 0 && c.e < 0 ? INT_MIN : c.e, step: st });
      return;
    }
    sizes.push(a.shrink ? 1 : a.beginMasked && a.endMasked && st > 0 ? dim : null);
    if (constant) {
      const b = begin![a.sparse]!;
      const e = end![a.sparse]!;
      if (a.shrink) sliced.push({ axis: i, start: b, end: b === -1 ? INT_MAX : b + 1, step: 1 });
      else sliced.push({ axis: i, start: a.beginMasked ? (st > 0 ? 0 : INT_MAX) : b, end: a.endMasked ? (st > 0 ? INT_MAX : INT_MIN) : e, step: st });
      return;
    }
    sliced.push({
      axis: i,
      start: a.beginMasked ? (st > 0 ? 0 : INT_MAX) : `b${a.sparse}`,
      end: a.endMasked && !a.shrink ? (st > 0 ? INT_MAX : INT_MIN) : a.shrink ? `s${a.sparse}` : `e${a.sparse}`,
      step: st,
    });
  });
  const shrunk = axes.flatMap((a, i) => (a.shrink ? [i] : []));
  const hasNew = final.includes('new');
  const outShape: Dim[] = final.map((f) => (f === 'new' ? 1 : sizes[f]!));
  // Known entries of a shape vector being sliced.
  if (constant && r === 1 && x.elems && typeof x.shape![0] === 'number' && !hasNew) {
    const only = sliced[0];
    const picked = only ? range(0, sizes[0] as number).map((k) => x.elems![(only.start as number) + k * only.step]!) : [...x.elems];
    const result = sliceNodes(ctx, x, sliced, shrunk, undefined, beginV, endV);
    return [{ ...result, dtype: x.dtype, shape: outShape, elems: picked }];
  }
  const layout = hasNew ? undefined : x.perm;
  const sliceOut = sliceNodes(ctx, x, sliced, shrunk, layout, beginV, endV);
  if (!hasNew) return [{ ...sliceOut, dtype: x.dtype, shape: outShape, ...withPerm(dropAxes(layout, r, shrunk)) }];
  const newAxes = final.flatMap((f, i) => (f === 'new' ? [i] : []));
  return [ctx.emit('Unsqueeze', [sliceOut.name!, ctx.g.int64Const(newAxes)], {}, { dtype: x.dtype, shape: outShape })];
};

/** The Slice (and Squeeze) nodes of a strided slice, on x in `layout`. */
function sliceNodes(
  ctx: GraphContext,
  x: Value,
  sliced: { axis: number; start: number | string; end: number | string; step: number }[],
  shrunk: number[],
  layout: readonly number[] | undefined,
  beginV: Value,
  endV: Value,
): Value {
  const phys = (a: number): number => (layout ? layout.indexOf(a) : a);
  let name = ctx.ref(x, layout);
  if (sliced.length) {
    const dynamic = (key: number | string, all: string): string => {
      if (typeof key === 'number') return ctx.g.int64Const([key]);
      const which = key[0];
      const idx = Number(key.slice(1));
      const pick = ctx.g.op('Slice', [all, ctx.g.int64Const([idx]), ctx.g.int64Const([idx + 1])]);
      if (which !== 's') return pick;
      // A shrunk axis ends one after its begin; begin -1 ends at the end.
      return ctx.g.op('Where', [
        ctx.g.op('Equal', [pick, ctx.g.int64Const([-1])]),
        ctx.g.int64Const([INT_MAX]),
        ctx.g.op('Add', [pick, ctx.g.int64Const([1])]),
      ]);
    };
    const constant = sliced.every((s) => typeof s.start === 'number' && typeof s.end === 'number');
    const starts = constant
      ? ctx.g.int64Const(sliced.map((s) => s.start as number))
      : ctx.g.op(
          'Concat',
          sliced.map((s) => dynamic(s.start, ctx.int64(beginV))),
          { axis: int(0) },
        );
    const ends = constant
      ? ctx.g.int64Const(sliced.map((s) => s.end as number))
      : ctx.g.op(
          'Concat',
          sliced.map((s) => dynamic(s.end, typeof s.end === 'string' && s.end[0] === 's' ? ctx.int64(beginV) : ctx.int64(endV))),
          { axis: int(0) },
        );
    name = ctx.g.op(
      'Slice',
      [name, starts, ends, ctx.g.int64Const(sliced.map((s) => phys(s.axis))), ctx.g.int64Const(sliced.map((s) => s.step))],
      {},
      ctx.node!.name,
    );
  }
  if (shrunk.length) name = ctx.g.op('Squeeze', [name, ctx.g.int64Const(shrunk.map(phys).sort((a, b) => a - b))], {}, ctx.node!.name);
  return { dtype: x.dtype, shape: null, name };
}

/** A tensor of `shape` (an int32 vector value) filled with a scalar value (ONNX Expand). */
function filled(ctx: GraphContext, shape: Value, value: Value, dtype: Dtype): Value {
  const v = ctx.cast(value, dtype);
  const dims = shape.elems
    ? [...shape.elems]
    : shape.shape?.length === 1 && typeof shape.shape[0] === 'number'
      ? new Array<Dim>(shape.shape[0]).fill(null)
      : null;
  if (isConst(v) && isConst(shape) && count(numbers(shape)) <= 1 << 16) {
    const n = count(numbers(shape));
    return ctx.constant(dtype, new Array<number>(n).fill(numbers(v)[0]!), numbers(shape));
  }
  const scalar = v.shape && v.shape.length > 0 ? ctx.g.op('Reshape', [ctx.ref(v), ctx.g.int64Const([])]) : ctx.ref(v);
  return ctx.emit('Expand', [scalar, ctx.int64(shape)], {}, { dtype, shape: dims });
}

/** ZerosLike and OnesLike: Expand of the value over the input's (physical) shape, keeping its layout. */
const like =
  (value: number): OpConverter =>
  (ctx, _node, inputs) => {
    const x = input(ctx, inputs, 0);
    if (x.shape?.every((d) => typeof d === 'number') && count(x.shape as number[]) <= 1 << 16) {
      return [ctx.constant(x.dtype, new Array<number>(count(x.shape as number[])).fill(value), x.shape as number[])];
    }
    const shape = ctx.g.op('Shape', [ctx.ref(x, x.perm)]);
    return [ctx.emit('Expand', [ctx.ref(ctx.scalar(value, x.dtype)), shape], {}, { dtype: x.dtype, shape: x.shape, ...withPerm(x.perm) })];
  };

/** Range(start, limit, delta) of the Tidx dtype (ONNX Range on scalars). */
const rangeOp: OpConverter = (ctx, node, inputs) => {
  const dtype = node.has('Tidx') ? attrDtype(ctx, node.dtypeRaw('Tidx'), 'Tidx') : promote(...inputs.map((v) => v.dtype));
  const scalars = [0, 1, 2].map((i) => {
    const v = ctx.cast(input(ctx, inputs, i), dtype);
    return v.shape && v.shape.length === 0 ? ctx.ref(v) : ctx.g.op('Reshape', [ctx.ref(v), ctx.g.int64Const([])]);
  });
  return [ctx.emit('Range', scalars, {}, { dtype, shape: [null] })];
};

/** LinSpace(start, stop, num): start + i * (stop - start) / (num - 1). */
const linspace: OpConverter = (ctx, _node, inputs) => {
  const start = ctx.cast(input(ctx, inputs, 0), 'float32');
  const stop = ctx.cast(input(ctx, inputs, 1), 'float32');
  const num = ctx.cast(input(ctx, inputs, 2), 'float32');
  const f = (v: number): Value => ctx.scalar(v);
  const steps = ctx.emit('Range', [ctx.ref(f(0)), ctx.ref(num), ctx.ref(f(1))], {}, { dtype: 'float32', shape: [null] });
  const step = elementwiseOp(ctx, 'Div', [elementwiseOp(ctx, 'Sub', [stop, start], 'float32'), elementwiseOp(ctx, 'Sub', [num, f(1)], 'float32')], 'float32');
  return [elementwiseOp(ctx, 'Add', [elementwiseOp(ctx, 'Mul', [steps, step], 'float32'), start], 'float32')];
};

const tile: OpConverter = (ctx, _node, inputs) => {
  const x = input(ctx, inputs, 0);
  const reps = input(ctx, inputs, 1, 'multiples');
  const r = ctx.rank(x);
  if (isConst(reps)) {
    const m = numbers(reps);
    if (m.length !== r) throw ctx.refuse(`multiples has ${m.length} entries for rank ${r}`);
    const phys = x.perm ? x.perm.map((a) => m[a]!) : m;
    const shape = x.shape!.map((d, i) => (typeof d === 'number' ? d * m[i]! : m[i] === 1 ? d : null));
    return [ctx.emit('Tile', [ctx.ref(x, x.perm), ctx.g.int64Const(phys)], {}, { dtype: x.dtype, shape, ...withPerm(x.perm) })];
  }
  return [ctx.emit('Tile', [ctx.ref(x), ctx.int64(reps)], {}, { dtype: x.dtype, shape: x.shape!.map(() => null) })];
};

const broadcastTo: OpConverter = (ctx, _node, inputs) => {
  const x = input(ctx, inputs, 0);
  const shape = input(ctx, inputs, 1, 'shape');
  let out: Dim[] | null = null;
  if (shape.elems) {
    try {
      out = broadcast(x.shape, shape.elems);
    } catch (err) {
      throw ctx.refuse((err as Error).message);
    }
  }
  return [ctx.emit('Expand', [ctx.ref(x), ctx.int64(shape)], {}, { dtype: x.dtype, shape: out })];
};

/** BroadcastArgs(s0, s1): the broadcast shape of two shape vectors (size 1 gives way). */
const broadcastArgs: OpConverter = (ctx, _node, inputs) => {
  const a = input(ctx, inputs, 0);
  const b = input(ctx, inputs, 1);
  const la = a.shape?.[0];
  const lb = b.shape?.[0];
  if (typeof la !== 'number' || typeof lb !== 'number') throw ctx.refuse('the lengths of its shape vectors must be known');
  const n = Math.max(la, lb);
  const pad = (v: Value, l: number): Value =>
    l === n
      ? v
      : {
          dtype: 'int32',
          shape: [n],
          name: ctx.g.op('Concat', [ctx.ref(ctx.constant('int32', new Array<number>(n - l).fill(1), [n - l])), ctx.ref(v)], { axis: int(0) }),
        };
  const pa = pad(a, la);
  const pb = pad(b, lb);
  const one = ctx.constant('int32', [1], []);
  const out = elementwiseOp(ctx, 'Where', [elementwiseOp(ctx, 'Equal', [pa, one], 'bool'), pb, pa], 'int32');
  if (a.elems && b.elems) {
    try {
      return [{ ...out, elems: broadcast(a.elems, b.elems)! }];
    } catch (err) {
      throw ctx.refuse((err as Error).message);
    }
  }
  return [out];
};

/** The [rank, 2] paddings of Pad and MirrorPad as ONNX pads in a layout, with the output shape. */
function padsOf(ctx: GraphContext, x: Value, paddings: Value, layout: readonly number[] | undefined): { pads: string; shape: Dim[] } {
  const r = ctx.rank(x);
  if (isConst(paddings)) {
    const p = numbers(paddings);
    if (p.length !== 2 * r) throw ctx.refuse(`paddings has ${p.length / 2} rows for rank ${r}`);
    const order = layout ?? range(0, r);
    return {
      pads: ctx.g.int64Const([...order.map((a) => p[2 * a]!), ...order.map((a) => p[2 * a + 1]!)]),
      shape: x.shape!.map((d, i) => (typeof d === 'number' ? d + p[2 * i]! + p[2 * i + 1]! : d === null ? null : p[2 * i] || p[2 * i + 1] ? null : d)),
    };
  }
  const t = ctx.g.transpose(ctx.int64(paddings), [1, 0]);
  return { pads: ctx.g.op('Reshape', [t, ctx.g.int64Const([-1])]), shape: x.shape!.map(() => null) };
}

const pad: OpConverter = (ctx, node, inputs) => {
  const x = input(ctx, inputs, 0);
  const paddings = input(ctx, inputs, 1, 'paddings');
  const layout = isConst(paddings) ? x.perm : undefined;
  const { pads, shape } = padsOf(ctx, x, paddings, layout);
  // tfjs: Pad reads a constant_value attribute (default 0), PadV2 its third input.
  const value = inputs[2] ? ctx.cast(inputs[2], x.dtype) : ctx.scalar(node.float('constant_value', 0), x.dtype);
  const scalar = value.shape && value.shape.length > 0 ? ctx.g.op('Reshape', [ctx.ref(value), ctx.g.int64Const([])]) : ctx.ref(value);
  return [ctx.emit('Pad', [ctx.ref(x, layout), pads, scalar], { mode: 'constant' }, { dtype: x.dtype, shape, ...withPerm(layout) })];
};

/** MirrorPad: REFLECT is ONNX's reflect; SYMMETRIC (edge pixels repeated) is built from reversed slices. */
const mirrorPad: OpConverter = (ctx, node, inputs) => {
  const x = input(ctx, inputs, 0);
  const paddings = input(ctx, inputs, 1, 'paddings');
  const mode = node.str('mode', 'reflect');
  if (mode === 'reflect') {
    const layout = isConst(paddings) ? x.perm : undefined;
    const { pads, shape } = padsOf(ctx, x, paddings, layout);
    return [ctx.emit('Pad', [ctx.ref(x, layout), pads], { mode: 'reflect' }, { dtype: x.dtype, shape, ...withPerm(layout) })];
  }
  if (mode !== 'symmetric') throw ctx.refuse(`mode '${mode}' is not REFLECT or SYMMETRIC`);
  const p = ctx.constNumbers(paddings, 'paddings (for SYMMETRIC)');
  const r = ctx.rank(x);
  const layout = x.perm;
  let name = ctx.ref(x, layout);
  for (let a = 0; a < r; a++) {
    const [before, after] = [p[2 * a]!, p[2 * a + 1]!];
    if (!before && !after) continue;
    const axis = ctx.g.int64Const([layout ? layout.indexOf(a) : a]);
    const rev = (start: number, end: number): string => {
      const part = ctx.g.op('Slice', [name, ctx.g.int64Const([start]), ctx.g.int64Const([end]), axis]);
      return ctx.g.op('Slice', [part, ctx.g.int64Const([-1]), ctx.g.int64Const([INT_MIN]), axis, ctx.g.int64Const([-1])]);
    };
    const pieces = [...(before ? [rev(0, before)] : []), name, ...(after ? [rev(-after, INT_MAX)] : [])];
    name = ctx.g.op('Concat', pieces, { axis: int(layout ? layout.indexOf(a) : a) }, ctx.node!.name);
  }
  const shape = x.shape!.map((d, i) => (typeof d === 'number' ? d + p[2 * i]! + p[2 * i + 1]! : p[2 * i] || p[2 * i + 1] ? null : d));
  return [{ dtype: x.dtype, shape, name, ...withPerm(layout) }];
};

/** GatherV2 (and Gather, axis 0), with batch_dims through GatherND; indices as tfjs casts them (int32). */
const gather =
  (v2: boolean): OpConverter =>
  (ctx, node, inputs) => {
    const x = input(ctx, inputs, 0);
    const indices = ctx.cast(input(ctx, inputs, 1, 'indices'), 'int32');
    const r = ctx.rank(x);
    const axis = axisOf(v2 ? ctx.constNumbers(input(ctx, inputs, 2, 'axis'), 'axis')[0]! : 0, r);
    const ri = ctx.rank(indices, 'indices');
    const batchDims = v2 ? node.int('batch_dims', 0) : 0;
    const b = batchDims < 0 ? batchDims + ri : batchDims;
    const outShape = [...x.shape!.slice(0, axis), ...indices.shape!.slice(b), ...x.shape!.slice(axis + 1)];
    if (b === 0) {
      const keep = ri <= 1 ? x.perm : undefined;
      const p = keep ? keep.indexOf(axis) : axis;
      const perm = ri === 0 ? dropAxes(keep, r, [axis]) : keep;
      const out = ctx.emit('Gather', [ctx.ref(x, keep), ctx.ref(indices)], { axis: int(p) }, { dtype: x.dtype, shape: outShape, ...withPerm(perm) });
      if (r === 1 && x.elems && isConst(indices)) return [{ ...out, elems: numbers(indices).map((k) => x.elems![k < 0 ? k + x.elems!.length : k] ?? null) }];
      return [out];
    }
    if (b > axis || b >= r) throw ctx.refuse(`batch_dims ${batchDims} must not exceed axis ${axis}`);
    // Move the gathered axis next to the batch axes, GatherND with batch_dims, then put the axes back.
    const q = [...range(0, b), axis, ...range(b, axis), ...range(axis + 1, r)];
    const moved = ctx.transposed(x, q);
    const idx = ctx.g.unsqueeze(ctx.int64(indices), [-1]);
    const i = ri - b;
    const m = axis - b;
    const t = r - axis - 1;
    const gatheredShape = [...x.shape!.slice(0, b), ...indices.shape!.slice(b), ...x.shape!.slice(b, axis), ...x.shape!.slice(axis + 1)];
    const gathered = ctx.emit('GatherND', [ctx.ref(moved), idx], { batch_dims: int(b) }, { dtype: x.dtype, shape: gatheredShape });
    const back = [...range(0, b), ...range(b + i, b + i + m), ...range(b, b + i), ...range(b + i + m, b + i + m + t)];
    return [ctx.transposed(gathered, back)];
  };

const gatherNd: OpConverter = (ctx, _node, inputs) => {
  const x = input(ctx, inputs, 0);
  const indices = input(ctx, inputs, 1, 'indices');
  const ri = ctx.rank(indices, 'indices');
  const depth = indices.shape![ri - 1];
  if (typeof depth !== 'number') throw ctx.refuse('the last size of its indices must be known');
  const shape = [...indices.shape!.slice(0, -1), ...(x.shape ? x.shape.slice(depth) : [])];
  return [ctx.emit('GatherND', [ctx.ref(x), ctx.int64(indices)], {}, { dtype: x.dtype, shape: x.shape ? shape : null })];
};

/** ScatterNd: updates summed (duplicates too, as tfjs does) into zeros of the given shape. */
const scatterNd: OpConverter = (ctx, _node, inputs) => {
  if (ctx.opset < 16)
    throw ctx.refuse(`summing duplicate indices needs ONNX ScatterND's reduction, from opset 16 (this conversion writes ${ctx.opset}; use --opset 16)`);
  const indices = input(ctx, inputs, 0, 'indices');
  const updates = input(ctx, inputs, 1, 'updates');
  const shape = input(ctx, inputs, 2, 'shape');
  const zeros = filled(ctx, shape, ctx.scalar(0, updates.dtype), updates.dtype);
  return [ctx.emit('ScatterND', [ctx.ref(zeros), ctx.int64(indices), ctx.ref(updates)], { reduction: 'add' }, { dtype: updates.dtype, shape: zeros.shape })];
};

const tensorScatterUpdate: OpConverter = (ctx, _node, inputs) => {
  const x = input(ctx, inputs, 0);
  const indices = input(ctx, inputs, 1, 'indices');
  const updates = ctx.cast(input(ctx, inputs, 2, 'updates'), x.dtype);
  return [ctx.emit('ScatterND', [ctx.ref(x), ctx.int64(indices), ctx.ref(updates)], {}, { dtype: x.dtype, shape: x.shape })];
};

/** SparseToDense: the default value expanded to the shape, the values scattered at the indices. */
const sparseToDense: OpConverter = (ctx, _node, inputs) => {
  const indices = input(ctx, inputs, 0, 'sparse_indices');
  const shape = input(ctx, inputs, 1, 'output_shape');
  const values = input(ctx, inputs, 2, 'sparse_values');
  const dtype = values.dtype;
  const dense = filled(ctx, shape, input(ctx, inputs, 3, 'default_value'), dtype);
  const ri = ctx.rank(indices, 'indices');
  let idx = ctx.int64(indices);
  if (ri === 0) idx = ctx.g.op('Reshape', [idx, ctx.g.int64Const([1, 1])]);
  else if (ri === 1) idx = ctx.g.unsqueeze(idx, [-1]);
  const n = ctx.g.op('Slice', [ctx.g.op('Shape', [idx]), ctx.g.int64Const([0]), ctx.g.int64Const([1])]);
  const updates = ctx.g.op('Expand', [ctx.ref(values), n]);
  return [ctx.emit('ScatterND', [ctx.ref(dense), idx, updates], {}, { dtype, shape: dense.shape })];
};

/** OneHot along the last axis (tfjs ignores the axis attribute); negative indices give all-off rows as in tfjs. */
const oneHot: OpConverter = (ctx, node, inputs) => {
  if (node.int('axis', -1) !== -1) throw ctx.refuse(`axis ${node.int('axis', -1)}: tfjs ignores it and one-hots along the last axis`);
  const indices = ctx.cast(input(ctx, inputs, 0, 'indices'), 'int32');
  const depth = input(ctx, inputs, 1, 'depth');
  const dtype = node.has('T') ? attrDtype(ctx, node.dtypeRaw('T'), 'T') : 'float32';
  const on = ctx.cast(input(ctx, inputs, 2, 'on_value'), dtype);
  const off = ctx.cast(input(ctx, inputs, 3, 'off_value'), dtype);
  const d = ctx.cast(depth, 'int32');
  const flat = (v: Value): string => ctx.g.op('Reshape', [ctx.ref(v), ctx.g.int64Const([1])]);
  const values = ctx.g.op('Concat', [flat(off), flat(on)], { axis: int(0) });
  const safe = elementwiseOp(ctx, 'Where', [elementwiseOp(ctx, 'Less', [indices, ctx.scalar(0, 'int32')], 'bool'), d, indices], 'int32');
  const depthSize = isConst(depth) ? numbers(depth)[0]! : null;
  return [ctx.emit('OneHot', [ctx.ref(safe), flat(d), values], { axis: int(-1) }, { dtype, shape: indices.shape ? [...indices.shape, depthSize] : null })];
};

/** ReverseV2 (axes) and Reverse (a mask of axes): Slice with step -1, in the input's layout. */
const reverse =
  (mask: boolean): OpConverter =>
  (ctx, _node, inputs) => {
    const x = input(ctx, inputs, 0);
    const r = ctx.rank(x);
    const given = ctx.constNumbers(input(ctx, inputs, 1, 'axis'), 'axis');
    const axes = mask ? given.flatMap((b, i) => (b ? [i] : [])) : [...new Set(given.map((a) => axisOf(a, r)))];
    if (axes.length === 0) return [x];
    const phys = axes.map((a) => (x.perm ? x.perm.indexOf(a) : a));
    return [
      ctx.emit(
        'Slice',
        [
          ctx.ref(x, x.perm),
          ctx.g.int64Const(axes.map(() => -1)),
          ctx.g.int64Const(axes.map(() => INT_MIN)),
          ctx.g.int64Const(phys),
          ctx.g.int64Const(axes.map(() => -1)),
        ],
        {},
        { dtype: x.dtype, shape: x.shape, ...withPerm(x.perm) },
      ),
    ];
  };

/** Fill(dims, value), Zeros and Ones (a shape and the T attribute). */
const fill: OpConverter = (ctx, _node, inputs) => {
  const value = input(ctx, inputs, 1, 'value');
  return [filled(ctx, input(ctx, inputs, 0, 'dims'), value, value.dtype)];
};

const constantOf =
  (value: number): OpConverter =>
  (ctx, node, inputs) => {
    const dtype = node.has('T') ? attrDtype(ctx, node.dtypeRaw('T'), 'T') : 'float32';
    return [filled(ctx, input(ctx, inputs, 0, 'shape'), ctx.scalar(value, dtype), dtype)];
  };

/** Size and Rank as int32 scalars. */
const size: OpConverter = (ctx, _node, inputs) => {
  const x = input(ctx, inputs, 0);
  if (x.shape?.every((d) => typeof d === 'number')) return [ctx.constant('int32', [count(x.shape as number[])], [])];
  const n = ctx.g.op('Size', [ctx.ref(x, x.perm)]);
  return [ctx.emit('Cast', [n], { to: int(DataType.INT32) }, { dtype: 'int32', shape: [] })];
};

const rank: OpConverter = (ctx, _node, inputs) => {
  const x = input(ctx, inputs, 0);
  if (x.shape) return [ctx.constant('int32', [x.shape.length], [])];
  const n = ctx.g.op('Size', [ctx.g.op('Shape', [ctx.ref(x)])]);
  return [ctx.emit('Cast', [n], { to: int(DataType.INT32) }, { dtype: 'int32', shape: [] })];
};

export const SHAPE_OPS: Record<string, OpConverter> = {
  Shape: (ctx, _n, inputs) => [shapeOf(ctx, input(ctx, inputs, 0))],
  ShapeN: (ctx, _n, inputs) => inputs.map((x) => shapeOf(ctx, x)),
  Size: size,
  Rank: rank,
  Reshape: reshape,
  Squeeze: squeeze,
  ExpandDims: expandDims,
  Transpose: transpose,
  ConcatV2: concatV2,
  Concat: concatV1,
  Pack: pack,
  Unpack: unpack,
  Split: split,
  SplitV: splitV,
  Slice: slice,
  StridedSlice: stridedSlice,
  Fill: fill,
  Zeros: constantOf(0),
  Ones: constantOf(1),
  ZerosLike: like(0),
  OnesLike: like(1),
  Range: rangeOp,
  LinSpace: linspace,
  Tile: tile,
  BroadcastTo: broadcastTo,
  BroadcastArgs: broadcastArgs,
  Pad: pad,
  PadV2: pad,
  MirrorPad: mirrorPad,
  Gather: gather(false),
  GatherV2: gather(true),
  GatherNd: gatherNd,
  ScatterNd: scatterNd,
  TensorScatterUpdate: tensorScatterUpdate,
  SparseToDense: sparseToDense,
  OneHot: oneHot,
  Reverse: reverse(true),
  ReverseV2: reverse(false),
  EnsureShape: (ctx, _n, inputs) => [input(ctx, inputs, 0)],
};
