import { DataType, int } from '../graph-builder.ts';
import { activation } from './activations.ts';
import { type LayerConverter, only, physicalPerm, plain, range, same, type TensorRef, weights } from './context.ts';

/** Layers that are the identity at inference (dropout and noise). */
export const identity: LayerConverter = (ctx, inputs) => [only(inputs, ctx)];

/** Dense on any rank: Gemm for [batch, features], MatMul + Add on the last axis otherwise. */
export const dense: LayerConverter = (ctx, inputs) => {
  const x = ctx.channelsLast(only(inputs, ctx));
  const { layer, config, g } = ctx;
  const [kernel, bias] = weights(layer);
  const k = g.floats(`${layer.name}/kernel`, kernel!.data, kernel!.shape);
  const b = config.useBias !== false && bias ? g.floats(`${layer.name}/bias`, bias.data, bias.shape) : null;
  let y: string;
  if (x.shape.length === 2) {
    y = g.op('Gemm', b ? [x.name, k, b] : [x.name, k], {}, layer.name);
  } else {
    y = g.op('MatMul', [x.name, k], {}, layer.name);
    if (b) y = g.op('Add', [y, b], {}, `${layer.name}/bias_add`);
  }
  return [activation(ctx, config.activation, plain(y, ctx.outputShapes[0]!))];
};

/** Flatten in tfjs order (channels-first data format: channels moved last first, as tfjs does). */
export const flatten: LayerConverter = (ctx, inputs) => {
  const input = only(inputs, ctx);
  const r = input.shape.length;
  const channelsFirst = ctx.config.dataFormat === 'channelsFirst' && r > 2;
  // The tfjs order to flatten in, as a permutation of the tfjs axes.
  const order = channelsFirst ? [0, ...range(2, r), 1] : range(0, r);
  const phys = physicalPerm(input);
  const x = order.every((a, i) => phys[i] === a) ? input : toOrder(ctx, input, order);
  return [plain(ctx.g.op('Flatten', [x.name], { axis: int(1) }, ctx.layer.name), ctx.outputShapes[0]!, input.dtype)];
};

/** The tensor transposed so that its physical axes are the tfjs axes in `order`. */
export function toOrder(ctx: Parameters<LayerConverter>[0], t: TensorRef, order: number[]): TensorRef {
  const phys = physicalPerm(t);
  // physical axis i holds tfjs axis phys[i]; we want axis order[j] at position j.
  const perm = order.map((a) => phys.indexOf(a));
  if (perm.every((p, i) => p === i)) return t;
  return { ...t, name: ctx.g.transpose(t.name, perm), layout: 'tfjs' };
}

/** Reshape in tfjs order. */
export const reshape: LayerConverter = (ctx, inputs) => {
  const x = ctx.channelsLast(only(inputs, ctx));
  // 0 keeps the batch dimension; tfjs' one unknown dimension (null or -1) becomes ONNX's -1.
  const target = (ctx.config.targetShape as Array<number | null>).map((d) => (d === null || d < 0 ? -1 : d));
  const y = ctx.g.op('Reshape', [x.name, ctx.g.int64Const([0, ...target])], {}, ctx.layer.name);
  return [plain(y, ctx.outputShapes[0]!, x.dtype)];
};

/** Permute: one Transpose, merged with any layout transpose before it. */
export const permuteLayer: LayerConverter = (ctx, inputs) => {
  const x = only(inputs, ctx);
  const dims = (ctx.config.dims as number[]).map(Number);
  return [{ ...toOrder(ctx, x, [0, ...dims]), shape: ctx.outputShapes[0]!, layout: 'tfjs' }];
};

/** RepeatVector: [batch, features] -> [batch, n, features]. */
export const repeatVector: LayerConverter = (ctx, inputs) => {
  const x = ctx.channelsLast(only(inputs, ctx));
  const n = Number(ctx.config.n);
  const y = ctx.g.op('Tile', [ctx.g.unsqueeze(x.name, [1]), ctx.g.int64Const([1, n, 1])], {}, ctx.layer.name);
  return [plain(y, ctx.outputShapes[0]!, x.dtype)];
};

/** Masking: zeroes steps whose features all equal the mask value, and masks them for what follows. */
export const masking: LayerConverter = (ctx, inputs) => {
  const x = ctx.channelsLast(only(inputs, ctx));
  const { g } = ctx;
  const value = Number(ctx.config.maskValue ?? 0);
  const keep = g.op('Cast', [g.op('Not', [g.op('Equal', [x.name, g.scalar(value)])])], { to: int(DataType.FLOAT) });
  const any = g.reduce('ReduceMax', keep, [-1], true);
  const y = g.op('Mul', [x.name, any], {}, ctx.layer.name);
  return [{ ...same(x, y), mask: { name: g.squeeze(any, [-1], `${ctx.layer.name}/mask`) } }];
};

/** Embedding: a Gather from the table (float ids are truncated to integers, as tfjs casts them). */
export const embedding: LayerConverter = (ctx, inputs) => {
  const x = ctx.channelsLast(only(inputs, ctx));
  const { g, layer } = ctx;
  const [table] = weights(layer);
  const ids = x.dtype === 'int32' ? x.name : g.op('Cast', [x.name], { to: int(DataType.INT32) });
  const y = g.op('Gather', [g.floats(`${layer.name}/embeddings`, table!.data, table!.shape), ids], { axis: int(0) }, layer.name);
  const out = plain(y, ctx.outputShapes[0]!);
  if (!ctx.config.maskZero) return [out];
  const nonZero = g.op('Not', [g.op('Equal', [ids, g.int32Const([0], [])])]);
  return [{ ...out, mask: { name: g.op('Cast', [nonZero], { to: int(DataType.FLOAT) }, `${layer.name}/mask`) } }];
};
