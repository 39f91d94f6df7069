import { int, ints } from '../graph-builder.ts';
import { windowPads } from './conv.ts';
import { dataFormat, type LayerConverter, only, physicalAxis, plain, tuple } from './context.ts';

/**
 * Max and average pooling in 1, 2 or 3 dimensions. Strides default to the pool size; 'same' pads as TF
 * does, and average pooling leaves the padding out of the mean (count_include_pad = 0), as TF does.
 */
export const pooling =
  (op: 'MaxPool' | 'AveragePool', rank: 1 | 2 | 3): LayerConverter =>
  (ctx, inputs) => {
    const input = only(inputs, ctx);
    const format = rank === 1 ? 'channelsLast' : dataFormat(ctx);
    const x = format === 'channelsLast' ? ctx.channelsFirst(input) : ctx.channelsLast(input);
    const { config, g } = ctx;
    const poolSize = tuple(config.poolSize ?? 2, rank);
    const strides = config.strides === undefined || config.strides === null ? poolSize : tuple(config.strides, rank);
    const sizes = format === 'channelsLast' ? input.shape.slice(1, 1 + rank) : input.shape.slice(2, 2 + rank);
    const pads = windowPads(ctx, config.padding ?? 'valid', sizes, poolSize, strides, new Array<number>(rank).fill(1));
    const attrs = { kernel_shape: ints(poolSize), strides: ints(strides), ...pads, ...(op === 'AveragePool' ? { count_include_pad: int(0) } : {}) };
    const y = g.op(op, [x.name], attrs, ctx.layer.name);
    return [{ name: y, shape: ctx.outputShapes[0]!, layout: format === 'channelsLast' ? 'nchw' : 'tfjs', dtype: 'float32' }];
  };

/** Global pooling: a mean or max over the spatial axes (wherever they sit in the graph). */
export const globalPooling =
  (op: 'ReduceMean' | 'ReduceMax', rank: 1 | 2): LayerConverter =>
  (ctx, inputs) => {
    const x = only(inputs, ctx);
    const format = rank === 1 ? 'channelsLast' : dataFormat(ctx);
    const axes = (rank === 1 ? [1] : format === 'channelsLast' ? [1, 2] : [2, 3]).map((a) => physicalAxis(x, a));
    const y = ctx.g.reduce(op, x.name, axes, false, ctx.layer.name);
    return [plain(y, ctx.outputShapes[0]!)];
  };
