import type * as tf from '@tensorflow/tfjs';
import { int } from '../graph-builder.ts';
import { type LayerConverter, only, plain, type Shape } from './context.ts';

/**
 * TimeDistributed: batch and time merged into one axis, the inner layer applied once, and the two
 * axes split again (from the input's runtime shape when sizes are dynamic).
 */
export const timeDistributed: LayerConverter = (ctx, inputs) => {
  const { g } = ctx;
  const x = ctx.channelsLast(only(inputs, ctx));
  const inner = (ctx.layer as unknown as { layer: tf.layers.Layer }).layer;
  const rest = x.shape.slice(2);
  const shapeOf = (t: string, from: number, to?: number): string => g.op('Slice', [g.op('Shape', [t]), g.int64Const([from]), g.int64Const([to ?? 2 ** 62])]);
  const mergedShape = rest.every((d) => typeof d === 'number')
    ? g.int64Const([-1, ...(rest as number[])])
    : g.op('Concat', [g.int64Const([-1]), shapeOf(x.name, 2)], { axis: int(0) });
  const merged = g.op('Reshape', [x.name, mergedShape], {}, `${ctx.layer.name}/merge_time`);
  const innerIn: Shape = [null, ...rest];
  const innerOut = inner.computeOutputShape(innerIn as tf.Shape) as tf.Shape | tf.Shape[];
  const innerShapes = (Array.isArray(innerOut[0]) ? innerOut : [innerOut]) as Shape[];
  const [y] = ctx.convertInner(inner, [plain(merged, innerIn, x.dtype)], innerShapes);
  const out = ctx.channelsLast(y!);
  const outRest = ctx.outputShapes[0]!.slice(2);
  const time = x.shape[1];
  const splitShape =
    typeof time === 'number' && outRest.every((d) => typeof d === 'number')
      ? g.int64Const([-1, time, ...(outRest as number[])])
      : g.op('Concat', [shapeOf(x.name, 0, 2), shapeOf(out.name, 1)], { axis: int(0) });
  const result = g.op('Reshape', [out.name, splitShape], {}, ctx.layer.name);
  return [plain(result, ctx.outputShapes[0]!, out.dtype)];
};
