import { DataType, int } from '../../graph-builder.ts';
import type { GraphContext } from '../context.ts';
import { isConst, numbers, type Value } from '../value.ts';
import { input, type OpConverter } from './common.ts';

/** Ops whose output sizes depend on the values: non-max suppression, Where, TopK, Unique, ListDiff, searchsorted. */

const toInt32 = (ctx: GraphContext, name: string): string => ctx.g.op('Cast', [name], { to: int(DataType.INT32) });

/** A scalar input as an ONNX [1] tensor of a type (ONNX NonMaxSuppression's thresholds and count). */
function scalar1(ctx: GraphContext, v: Value, dtype: 'float32' | 'int64'): string {
  if (dtype === 'int64') return ctx.g.op('Reshape', [ctx.int64(v), ctx.g.int64Const([1])]);
  return ctx.g.op('Reshape', [ctx.ref(ctx.cast(v, 'float32')), ctx.g.int64Const([1])]);
}

/**
 * NonMaxSuppressionV2 to V5 on onnxruntime's NonMaxSuppression (one batch, one class). Both keep boxes
 * scoring strictly above the threshold and accept corners in either order; tfjs suppresses a box whose
 * IoU with a kept one is >= the threshold, ONNX one whose IoU is >, which differs only at exact equality.
 * V4 pads to the maximum when asked; V5's soft-NMS (sigma > 0) has no ONNX counterpart and is refused.
 */
const nms =
  (version: 2 | 3 | 4 | 5): OpConverter =>
  (ctx, node, inputs) => {
    const boxes = ctx.cast(input(ctx, inputs, 0, 'boxes'), 'float32');
    const scores = ctx.cast(input(ctx, inputs, 1, 'scores'), 'float32');
    const max = input(ctx, inputs, 2, 'max_output_size');
    const iou = input(ctx, inputs, 3, 'iou_threshold');
    if (version === 5) {
      const sigma = input(ctx, inputs, 5, 'soft_nms_sigma');
      if (!isConst(sigma)) throw ctx.refuse('its soft_nms_sigma is computed when the model runs: soft-NMS (sigma > 0) has no ONNX counterpart');
      if (numbers(sigma)[0] !== 0) throw ctx.refuse(`soft-NMS (soft_nms_sigma ${numbers(sigma)[0]}) has no ONNX counterpart (NonMaxSuppression is hard NMS)`);
    }
    if (isConst(iou) && (numbers(iou)[0]! < 0 || numbers(iou)[0]! > 1))
      throw ctx.refuse(`iou_threshold ${numbers(iou)[0]} is outside [0, 1] (tfjs refuses it)`);
    const onnxInputs = [
      ctx.g.unsqueeze(ctx.ref(boxes), [0]),
      ctx.g.unsqueeze(ctx.ref(scores), [0, 1]),
      scalar1(ctx, max, 'int64'),
      scalar1(ctx, iou, 'float32'),
    ];
    if (version >= 3) onnxInputs.push(scalar1(ctx, input(ctx, inputs, 4, 'score_threshold'), 'float32'));
    const selected = ctx.g.op('NonMaxSuppression', onnxInputs, { center_point_box: int(0) }, ctx.node!.name);
    const indices64 = ctx.g.op('Reshape', [
      ctx.g.op('Slice', [selected, ctx.g.int64Const([2]), ctx.g.int64Const([3]), ctx.g.int64Const([1])]),
      ctx.g.int64Const([-1]),
    ]);
    const count64 = ctx.g.op('Shape', [indices64]);
    const valid: Value = { dtype: 'int32', shape: [], name: ctx.g.op('Reshape', [toInt32(ctx, count64), ctx.g.int64Const([])], {}, `${ctx.node!.name}/valid`) };
    const maxSize = isConst(max) ? numbers(max)[0]! : null;
    if (version === 4 && node.bool('pad_to_max_output_size', false)) {
      const padTo = ctx.g.op('Sub', [scalar1(ctx, max, 'int64'), count64]);
      const padded = ctx.g.op('Pad', [indices64, ctx.g.op('Concat', [ctx.g.int64Const([0]), padTo], { axis: int(0) })], { mode: 'constant' });
      return [{ dtype: 'int32', shape: [maxSize], name: toInt32(ctx, padded) }, valid];
    }
    const indices: Value = { dtype: 'int32', shape: [null], name: toInt32(ctx, indices64) };
    if (version === 5) {
      const picked: Value = { dtype: 'float32', shape: [null], name: ctx.g.op('Gather', [ctx.ref(scores), indices64], { axis: int(0) }) };
      return [indices, picked, valid];
    }
    return version === 4 ? [indices, valid] : [indices];
  };

/** Where with one input: the coordinates of the true (non-zero) entries, [n, rank] int32 as tfjs' whereAsync. */
const whereIndices: OpConverter = (ctx, _node, inputs) => {
  const c = ctx.cast(input(ctx, inputs, 0, 'condition'), 'bool');
  const r = ctx.rank(c, 'condition');
  const nz = ctx.g.op('NonZero', [ctx.ref(c)]);
  return [{ dtype: 'int32', shape: [null, r], name: toInt32(ctx, ctx.g.transpose(nz, [1, 0])) }];
};

/** TopKV2: the k largest along the last axis, sorted, first index on ties; indices int32. */
const topK: OpConverter = (ctx, _node, inputs) => {
  const x = input(ctx, inputs, 0);
  const k = input(ctx, inputs, 1, 'k');
  const r = ctx.rank(x);
  if (r === 0) throw ctx.refuse('top-k of a scalar');
  const axis = x.perm ? x.perm.indexOf(r - 1) : r - 1;
  const kSize = isConst(k) ? numbers(k)[0]! : null;
  const shape = [...x.shape!.slice(0, -1), kSize];
  const [values, indices] = ctx.g.node(
    'TopK',
    [ctx.ref(x, x.perm), scalar1(ctx, k, 'int64')],
    { axis: int(axis), largest: int(1), sorted: int(1) },
    ctx.node!.name,
    2,
  );
  const perm = x.perm ? { perm: x.perm } : {};
  return [
    { dtype: x.dtype, shape, name: values!, ...perm },
    { dtype: 'int32', shape, name: toInt32(ctx, indices!), ...perm },
  ];
};

/** Unique (and UniqueV2 along an axis): values in order of first appearance and each element's index into them. */
const unique =
  (withAxis: boolean): OpConverter =>
  (ctx, _node, inputs) => {
    const x = ctx.logical(input(ctx, inputs, 0));
    const attrs: Record<string, ReturnType<typeof int>> = { sorted: int(0) };
    const r = ctx.rank(x);
    if (withAxis) {
      const a = ctx.constNumbers(input(ctx, inputs, 1, 'axis'), 'axis')[0]!;
      attrs.axis = int(a < 0 ? a + r : a);
    } else if (r !== 1) {
      throw ctx.refuse(`tfjs' unique without an axis takes a 1-D tensor (this one has rank ${r})`);
    }
    // onnxruntime's Unique takes float, int64, int8 and strings: int32 goes through int64.
    const data = x.dtype === 'float32' ? ctx.ref(x) : ctx.int64(x);
    const [y, , inverse] = ctx.g.node('Unique', [data], attrs, ctx.node!.name, 4);
    const values = x.dtype === 'float32' ? y! : ctx.g.op('Cast', [y!], { to: int(x.dtype === 'bool' ? DataType.BOOL : DataType.INT32) });
    const shape = x.shape!.map((d, i) => (withAxis ? (i === (attrs.axis as { int: number }).int ? null : d) : null));
    return [
      { dtype: x.dtype, shape, name: values },
      { dtype: 'int32', shape: [withAxis ? x.shape![(attrs.axis as { int: number }).int]! : x.shape![0]!], name: toInt32(ctx, inverse!) },
    ];
  };

/** ListDiff (setdiff1d): the entries of x not in y, and their positions in x. */
const listDiff: OpConverter = (ctx, _node, inputs) => {
  const x = ctx.logical(input(ctx, inputs, 0));
  const y = ctx.cast(input(ctx, inputs, 1), x.dtype);
  const eq = ctx.g.op('Equal', [ctx.g.unsqueeze(ctx.ref(x), [1]), ctx.g.unsqueeze(ctx.ref(y), [0])]);
  const hits = ctx.g.op('ReduceSum', [ctx.g.op('Cast', [eq], { to: int(DataType.INT32) }), ctx.g.int64Const([1])], { keepdims: int(0) });
  const keep = ctx.g.op('Equal', [hits, ctx.ref(ctx.scalar(0, 'int32'))]);
  const idx = ctx.g.op('Reshape', [ctx.g.op('NonZero', [keep]), ctx.g.int64Const([-1])]);
  return [
    { dtype: x.dtype, shape: [null], name: ctx.g.op('Gather', [ctx.ref(x), idx], { axis: int(0) }, ctx.node!.name) },
    { dtype: 'int32', shape: [null], name: toInt32(ctx, idx) },
  ];
};

/** LowerBound and UpperBound (searchsorted): per value, how many sorted entries are below it (or not above it). */
const bound =
  (op: 'Less' | 'LessOrEqual'): OpConverter =>
  (ctx, _node, inputs) => {
    const sorted = input(ctx, inputs, 0, 'sorted_inputs');
    const values = ctx.cast(input(ctx, inputs, 1, 'values'), sorted.dtype);
    const rs = ctx.rank(sorted);
    const rv = ctx.rank(values);
    if (rs !== rv) throw ctx.refuse(`its sorted sequence (rank ${rs}) and values (rank ${rv}) must have the same rank`);
    const cmp = ctx.g.op(op, [ctx.g.unsqueeze(ctx.ref(sorted), [-2]), ctx.g.unsqueeze(ctx.ref(values), [-1])]);
    const n = ctx.g.op('ReduceSum', [ctx.g.op('Cast', [cmp], { to: int(DataType.INT32) }), ctx.g.int64Const([-1])], { keepdims: int(0) }, ctx.node!.name);
    return [{ dtype: 'int32', shape: values.shape, name: n }];
  };

export const DYNAMIC_OPS: Record<string, OpConverter> = {
  NonMaxSuppressionV2: nms(2),
  NonMaxSuppressionV3: nms(3),
  NonMaxSuppressionV4: nms(4),
  NonMaxSuppressionV5: nms(5),
  Where: whereIndices,
  TopKV2: topK,
  Unique: unique(false),
  UniqueV2: unique(true),
  ListDiff: listDiff,
  LowerBound: bound('Less'),
  UpperBound: bound('LessOrEqual'),
};
