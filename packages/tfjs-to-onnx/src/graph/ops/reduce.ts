import { type AttrValue, DataType, int } from '../../graph-builder.ts';
import { axisOf, type Dtype, isConst, numbers, type Value } from '../value.ts';
import { input, type OpConverter } from './common.ts';
import { dropAxes } from './shape.ts';

/** Reductions (in the input's layout when the axes are constants), arg-max/min and cumulative sums. */

const withPerm = (perm: readonly number[] | undefined): { perm?: readonly number[] } => (perm ? { perm } : {});

/**
 * A reduction as tfjs runs it: constant axes (an empty list reduces nothing), keep_dims, and tfjs'
 * dtypes (Mean of int32 is float32, Sum of bool int32, All/Any on bools through int32).
 */
const reduction =
  (op: string, kind: 'plain' | 'mean' | 'logical' = 'plain'): OpConverter =>
  (ctx, node, inputs) => {
    let x = input(ctx, inputs, 0);
    const axesV = input(ctx, inputs, 1, 'axis');
    const keep = node.bool('keep_dims', false);
    const outDtype: Dtype = kind === 'mean' ? 'float32' : kind === 'logical' ? 'bool' : x.dtype === 'bool' ? 'int32' : x.dtype;
    x = kind === 'logical' ? ctx.cast(ctx.cast(x, 'bool'), 'int32') : ctx.cast(x, outDtype);
    const finish = (v: Value): Value => (kind === 'logical' ? ctx.cast(v, 'bool') : v);
    if (!isConst(axesV)) {
      if (op !== 'ReduceSum' && ctx.opset < 18)
        throw ctx.refuse(`its axes are computed when the model runs, which ONNX ${op} takes as an input only from opset 18 (use --opset 18)`);
      const attrs: Record<string, AttrValue> = { keepdims: int(keep ? 1 : 0), noop_with_empty_axes: int(1) };
      const axes = ctx.g.op('Reshape', [ctx.int64(axesV), ctx.g.int64Const([-1])]);
      const shape = keep && x.shape ? x.shape.map(() => null) : null;
      return [finish(ctx.emit(op, [ctx.ref(x), axes], attrs, { dtype: x.dtype, shape }))];
    }
    const r = ctx.rank(x);
    const axes = [...new Set(numbers(axesV).map((a) => axisOf(a, r)))].sort((a, b) => a - b);
    if (axes.length === 0) return [finish(x)];
    const phys = axes.map((a) => (x.perm ? x.perm.indexOf(a) : a)).sort((a, b) => a - b);
    const shape = keep ? x.shape!.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape!.filter((_, i) => !axes.includes(i));
    const perm = keep ? x.perm : dropAxes(x.perm, r, axes);
    const name = ctx.g.reduce(op, ctx.ref(x, x.perm), phys, keep, ctx.node!.name);
    const out: Value = { dtype: x.dtype, shape, name, ...withPerm(perm) };
    // Prod of a shape vector (a flatten size) keeps its known value.
    if (op === 'ReduceProd' && !keep && r === 1 && x.elems?.every((e) => typeof e === 'number')) {
      return [{ ...out, elems: [(x.elems as number[]).reduce((a, b) => a * b, 1)] }];
    }
    return [finish(out)];
  };

/** ArgMax and ArgMin along a constant axis (first index on ties, as tfjs), int32 as tfjs returns. */
const arg =
  (op: 'ArgMax' | 'ArgMin'): OpConverter =>
  (ctx, _node, inputs) => {
    const x0 = input(ctx, inputs, 0);
    const x = x0.dtype === 'bool' ? ctx.cast(x0, 'int32') : x0;
    const r = ctx.rank(x);
    const axis = axisOf(ctx.constNumbers(input(ctx, inputs, 1, 'dimension'), 'axis')[0] ?? 0, r);
    const p = x.perm ? x.perm.indexOf(axis) : axis;
    const idx = ctx.g.op(op, [ctx.ref(x, x.perm)], { axis: int(p), keepdims: int(0), select_last_index: int(0) });
    return [
      ctx.emit(
        'Cast',
        [idx],
        { to: int(DataType.INT32) },
        { dtype: 'int32', shape: x.shape!.filter((_, i) => i !== axis), ...withPerm(dropAxes(x.perm, r, [axis])) },
      ),
    ];
  };

/** Cumsum (exclusive, reverse) along an axis, in the input's layout for a constant axis. */
const cumsum: OpConverter = (ctx, node, inputs) => {
  let x = input(ctx, inputs, 0);
  if (x.dtype === 'bool') x = ctx.cast(x, 'int32');
  const axisV = input(ctx, inputs, 1, 'axis');
  const attrs = { exclusive: int(node.bool('exclusive', false) ? 1 : 0), reverse: int(node.bool('reverse', false) ? 1 : 0) };
  if (isConst(axisV)) {
    const r = ctx.rank(x);
    const axis = axisOf(numbers(axisV)[0]!, r);
    const p = x.perm ? x.perm.indexOf(axis) : axis;
    return [
      ctx.emit('CumSum', [ctx.ref(x, x.perm), ctx.g.int64s(`${ctx.node!.name}/axis`, [p], [])], attrs, { dtype: x.dtype, shape: x.shape, ...withPerm(x.perm) }),
    ];
  }
  const axis = ctx.g.op('Reshape', [ctx.int64(axisV), ctx.g.int64Const([])]);
  return [ctx.emit('CumSum', [ctx.ref(x), axis], attrs, { dtype: x.dtype, shape: x.shape })];
};

/** Cumprod: ONNX CumProd, which exists from opset 26. */
const cumprod: OpConverter = (ctx, node, inputs) => {
  if (ctx.opset < 26) throw ctx.refuse(`ONNX CumProd exists from opset 26 (this conversion writes ${ctx.opset}; use --opset 26)`);
  let x = input(ctx, inputs, 0);
  if (x.dtype === 'bool') x = ctx.cast(x, 'int32');
  const axis = axisOf(ctx.constNumbers(input(ctx, inputs, 1, 'axis'), 'axis')[0]!, ctx.rank(x));
  const p = x.perm ? x.perm.indexOf(axis) : axis;
  const attrs = { exclusive: int(node.bool('exclusive', false) ? 1 : 0), reverse: int(node.bool('reverse', false) ? 1 : 0) };
  return [
    ctx.emit('CumProd', [ctx.ref(x, x.perm), ctx.g.int64s(`${ctx.node!.name}/axis`, [p], [])], attrs, { dtype: x.dtype, shape: x.shape, ...withPerm(x.perm) }),
  ];
};

/**
 * Bincount and DenseBincount as tfjs computes them: per value in [0, size) the sum of its weights (1 each
 * without weights), or 1 with binary_output; 2-D inputs count per row; values out of range count nowhere.
 */
const bincount =
  (dense: boolean): OpConverter =>
  (ctx, node, inputs) => {
    const x = ctx.logical(ctx.cast(input(ctx, inputs, 0, 'input'), 'int32'));
    const size = input(ctx, inputs, 1, 'size');
    const weights = ctx.logical(input(ctx, inputs, 2, 'weights'));
    const r = ctx.rank(x);
    if (r < 1 || r > (dense ? 2 : 1)) throw ctx.refuse(`its input has rank ${r} (tfjs counts ${dense ? '1-D and 2-D' : '1-D'} inputs)`);
    // Empty weights mean counts: a weights tensor is empty when a size is 0, weighted when every size is
    // known and positive or when it is computed with the input's rank (an empty one is a constant).
    const ws = weights.shape;
    if (!ws) throw ctx.refuse('the rank of its weights must be known (empty weights mean counts)');
    const weighted = !ws.includes(0) && (ws.every((d) => typeof d === 'number') || (!isConst(weights) && ws.length === r));
    if (!weighted && !ws.includes(0)) throw ctx.refuse('whether its weights are empty (counts) must be known when converting');
    const dtype = weights.dtype === 'bool' ? 'int32' : weights.dtype;
    const depth = ctx.g.op('Reshape', [ctx.int64(size), ctx.g.int64Const([1])]);
    // Negative values (tfjs throws on them) would wrap in ONNX OneHot: sent out of range instead.
    // int64 indices and depth with float values: a combination onnxruntime's OneHot implements.
    const x64 = ctx.int64(x);
    const safe = ctx.g.op('Where', [ctx.g.op('Less', [x64, ctx.g.int64Const([0])]), depth, x64]);
    let hot = ctx.g.op('OneHot', [safe, depth, ctx.ref(ctx.constant('float32', [0, 1], [2]))], { axis: int(-1) });
    const binary = dense && node.bool('binary_output', false);
    if (weighted && !binary) hot = ctx.g.op('Mul', [hot, ctx.g.unsqueeze(ctx.ref(ctx.cast(weights, 'float32')), [-1])]);
    const summed = ctx.g.reduce(binary ? 'ReduceMax' : 'ReduceSum', hot, [r - 1], false);
    const counted = dtype === 'float32' ? summed : ctx.g.op('Cast', [summed], { to: int(DataType.INT32) }, ctx.node!.name);
    const known = isConst(size) ? numbers(size)[0]! : null;
    return [{ dtype, shape: [...x.shape!.slice(0, r - 1), known], name: counted }];
  };

/** EuclideanNorm: ReduceL2. */
const euclideanNorm: OpConverter = (ctx, node, inputs) =>
  reduction('ReduceL2')(ctx, node, [ctx.cast(input(ctx, inputs, 0), 'float32'), input(ctx, inputs, 1, 'axis')]);

export const REDUCE_OPS: Record<string, OpConverter> = {
  Sum: reduction('ReduceSum'),
  Mean: reduction('ReduceMean', 'mean'),
  Max: reduction('ReduceMax'),
  Min: reduction('ReduceMin'),
  Prod: reduction('ReduceProd'),
  All: reduction('ReduceMin', 'logical'),
  Any: reduction('ReduceMax', 'logical'),
  ArgMax: arg('ArgMax'),
  ArgMin: arg('ArgMin'),
  Cumsum: cumsum,
  Cumprod: cumprod,
  EuclideanNorm: euclideanNorm,
  Bincount: bincount(false),
  DenseBincount: bincount(true),
};
