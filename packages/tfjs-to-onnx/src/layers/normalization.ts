import { int } from '../graph-builder.ts';
import { type LayerConverter, only, physicalAxis, same, unsupported, weights } from './context.ts';

/** The op name of a per-channel x * scale + shift on a non-leading axis, folded or lowered by the optimiser. */
export const CHANNEL_AFFINE = 'ganforge.ChannelAffine';

/**
 * BatchNormalization in its inference form on any axis (center and scale optional). With the channels
 * on ONNX axis 1 it is a BatchNormalization node; on another axis a channel affine (x * s + t). The
 * optimiser folds either into a preceding Conv, ConvTranspose or Dense where that is exact.
 */
export const batchNorm: LayerConverter = (ctx, inputs) => {
  const { layer, config, g } = ctx;
  const x = only(inputs, ctx);
  const rank = x.shape.length;
  const axisConfig = Array.isArray(config.axis) ? config.axis : [config.axis ?? -1];
  if (axisConfig.length !== 1) throw unsupported(layer, 'axis', config.axis, 'one axis');
  let axis = Number(axisConfig[0]);
  if (axis < 0) axis += rank;
  if (axis <= 0 || axis >= rank) throw unsupported(layer, 'axis', config.axis, 'a non-batch axis');
  const channels = x.shape[axis];
  if (typeof channels !== 'number') throw unsupported(layer, 'input shape', x.shape, 'a static channel axis');
  const ws = weights(layer);
  let i = 0;
  const gamma = config.scale !== false ? ws[i++]!.data : new Float32Array(channels).fill(1);
  const beta = config.center !== false ? ws[i++]!.data : new Float32Array(channels);
  const mean = ws[i++]!.data;
  const variance = ws[i++]!.data;
  const epsilon = Number(config.epsilon ?? 1e-3);
  const p = physicalAxis(x, axis);
  if (p === 1) {
    const y = g.op(
      'BatchNormalization',
      [
        x.name,
        g.floats(`${layer.name}/gamma`, gamma, [channels]),
        g.floats(`${layer.name}/beta`, beta, [channels]),
        g.floats(`${layer.name}/moving_mean`, mean, [channels]),
        g.floats(`${layer.name}/moving_variance`, variance, [channels]),
      ],
      { epsilon },
      layer.name,
    );
    return [same(x, y, ctx.outputShapes[0]!)];
  }
  const scale = new Float32Array(channels);
  const shift = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const s = gamma[c]! / Math.sqrt(variance[c]! + epsilon);
    scale[c] = s;
    shift[c] = beta[c]! - mean[c]! * s;
  }
  // Shaped [C, 1, ..., 1] so that they broadcast along physical axis p.
  const dims = [channels, ...new Array<number>(rank - 1 - p).fill(1)];
  const y = g.op(
    CHANNEL_AFFINE,
    [x.name, g.floats(`${layer.name}/scale`, scale, dims), g.floats(`${layer.name}/shift`, shift, dims)],
    { axis: int(p) },
    layer.name,
  );
  return [same(x, y, ctx.outputShapes[0]!)];
};

/**
 * LayerNormalization over any axes: ONNX's LayerNormalization (opset 17+) when they are the trailing
 * axes, otherwise mean and population variance over them, as tfjs' moments computes.
 */
export const layerNorm: LayerConverter = (ctx, inputs) => {
  const { layer, config, g } = ctx;
  const x = ctx.channelsLast(only(inputs, ctx));
  const rank = x.shape.length;
  const rawAxes = (Array.isArray(config.axis) ? config.axis : [config.axis ?? -1]).map(Number);
  const axes = rawAxes.map((a) => (a < 0 ? a + rank : a));
  if (axes.some((a) => a <= 0 || a >= rank)) throw unsupported(layer, 'axis', config.axis, 'non-batch axes');
  const sorted = [...axes].sort((a, b) => a - b);
  // tfjs reshapes gamma and beta (shaped in the config's axis order) to the broadcast shape.
  const dims = sorted.map((a) => x.shape[a]);
  if (dims.some((d) => typeof d !== 'number')) throw unsupported(layer, 'input shape', x.shape, 'static normalised axes');
  const paramDims = dims as number[];
  const count = paramDims.reduce((a, b) => a * b, 1);
  const ws = weights(layer);
  let i = 0;
  const gamma = config.scale !== false ? ws[i++]!.data : new Float32Array(count).fill(1);
  const beta = config.center !== false ? ws[i++]!.data : new Float32Array(count);
  const epsilon = Number(config.epsilon ?? 1e-3);
  const trailing = sorted.every((a, k) => a === rank - sorted.length + k);
  if (trailing && g.opset >= 17) {
    const y = g.op(
      'LayerNormalization',
      [x.name, g.floats(`${layer.name}/gamma`, gamma, paramDims), g.floats(`${layer.name}/beta`, beta, paramDims)],
      { axis: int(sorted[0]!), epsilon },
      layer.name,
    );
    return [same(x, y, ctx.outputShapes[0]!)];
  }
  const broadcast = x.shape.map((d, k) => (sorted.includes(k) ? (d as number) : 1)).slice(1);
  const mean = g.reduce('ReduceMean', x.name, sorted, true);
  const centred = g.op('Sub', [x.name, mean]);
  const variance = g.reduce('ReduceMean', g.op('Mul', [centred, centred]), sorted, true);
  const normed = g.op('Div', [centred, g.op('Sqrt', [g.op('Add', [variance, g.scalar(epsilon)])])]);
  const scaled = g.op('Mul', [normed, g.floats(`${layer.name}/gamma`, gamma, broadcast)]);
  const y = g.op('Add', [scaled, g.floats(`${layer.name}/beta`, beta, broadcast)], {}, layer.name);
  return [same(x, y, ctx.outputShapes[0]!)];
};
